// The dashboard's pages: fetch server-rendered fragments with the bearer token (kept in
// session storage, sent only as a header), place them, then let the report's own script
// draw the figures and sort the tables.
(function () {
  "use strict";
  var KEY = "ntrader-token";
  var body = document.body;
  var content = document.getElementById("content");
  var query = new URLSearchParams(window.location.search);

  function headers(extra) {
    var all = Object.assign({}, extra || {});
    var token = sessionStorage.getItem(KEY);
    if (token) { all.Authorization = "Bearer " + token; }
    return all;
  }

  function request(path, options) {
    options = options || {};
    options.headers = headers(options.headers);
    return fetch(path, options).then(function (response) {
      if (response.status === 401) { askForToken(Boolean(sessionStorage.getItem(KEY))); throw new Error("unauthorized"); }
      return response;
    });
  }

  function askForToken(refused) {
    var form = document.getElementById("login");
    form.hidden = false;
    document.getElementById("login-error").hidden = !refused;
    content.innerHTML = "";
  }

  document.getElementById("login").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("token").value);
    document.getElementById("login").hidden = true;
    show();
  });
  var logout = document.getElementById("logout");
  logout.hidden = !sessionStorage.getItem(KEY);
  logout.addEventListener("click", function (event) {
    event.preventDefault();
    sessionStorage.removeItem(KEY);
    window.location.href = "/";
  });

  function problemText(response) {
    return response.json().then(function (problem) {
      return problem.detail + (problem.hint ? " " + problem.hint : "");
    }, function () { return response.statusText; });
  }

  function place(html) {
    content.innerHTML = html;
    logout.hidden = !sessionStorage.getItem(KEY);
    // The HTML report's script draws the figures in #figures and makes tables sortable.
    if (!document.getElementById("figures")) { return; }
    var script = document.createElement("script");
    script.src = body.dataset.assets + "/report.js";
    content.appendChild(script);
  }

  function fragment(path) {
    return request(path).then(function (response) {
      if (!response.ok) {
        return problemText(response).then(function (text) {
          content.innerHTML = "";
          var note = document.createElement("p");
          note.className = "note warn";
          note.textContent = text;
          content.appendChild(note);
          throw new Error(text);
        });
      }
      return response.text().then(place);
    });
  }

  function openReport(link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      request(link.getAttribute("href")).then(function (response) { return response.blob(); })
        .then(function (blob) { window.location.href = URL.createObjectURL(blob); });
    });
  }

  function runsPage() {
    var params = new URLSearchParams();
    ["strategy", "status"].forEach(function (name) { if (query.get(name)) { params.set(name, query.get(name)); } });
    fragment("/dashboard/runs?" + params).then(function () {
      var filters = document.getElementById("filters");
      filters.addEventListener("change", function (event) {
        if (event.target.tagName !== "SELECT") { return; }
        var next = new URLSearchParams(new FormData(filters));
        ["strategy", "status"].forEach(function (name) { if (!next.get(name)) { next.delete(name); } });
        window.location.search = next.toString();
      });
      var compare = document.getElementById("compare");
      function picked() { return Array.prototype.map.call(content.querySelectorAll(".pick:checked"), function (box) { return box.value; }); }
      content.addEventListener("change", function () { compare.disabled = picked().length !== 2; });
      compare.addEventListener("click", function () {
        var ids = picked();
        window.location.href = "/?page=compare&ids=" + encodeURIComponent(ids[0]) + "&ids=" + encodeURIComponent(ids[1]);
      });
    }, function () {});
  }

  function runPage() {
    fragment("/dashboard/runs/" + encodeURIComponent(query.get("id") || "latest")).then(function () {
      var link = document.getElementById("open-report");
      if (link) { openReport(link); }
    }, function () {});
  }

  function comparePage() {
    var params = new URLSearchParams();
    query.getAll("ids").forEach(function (id) { params.append("ids", id); });
    fragment("/dashboard/compare?" + params).catch(function () {});
  }

  // Server-sent events read from a fetch stream: EventSource cannot send the token header.
  function follow(runId, onEvent) {
    return request("/api/v1/backtests/" + runId + "/events").then(function (response) {
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return; }
          buffer += decoder.decode(chunk.value, {stream: true}).replace(/\r\n/g, "\n");
          var blocks = buffer.split("\n\n");
          buffer = blocks.pop();
          blocks.forEach(function (block) {
            var name = "message", data = "";
            block.split("\n").forEach(function (line) {
              if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
              if (line.indexOf("data:") === 0) { data += line.slice(5).trim(); }
            });
            if (data) { onEvent(name, JSON.parse(data)); }
          });
          return pump();
        });
      }
      return pump();
    });
  }

  function newPage() {
    fragment("/dashboard/new").then(function () {
      var form = document.getElementById("new-run");
      var error = document.getElementById("run-error");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        error.hidden = true;
        var parameters;
        try { parameters = JSON.parse(document.getElementById("parameters").value || "{}"); }
        catch (problem) { error.textContent = "Parameters must be a JSON object."; error.hidden = false; return; }
        var config = {
          strategy: {type: document.getElementById("strategy-type").value, parameters: parameters},
          instruments: document.getElementById("instruments").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean),
          period: {start: document.getElementById("start").value, end: document.getElementById("end").value}
        };
        document.getElementById("submit-run").disabled = true;
        request("/api/v1/backtests", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(config)})
          .then(function (response) {
            if (response.status !== 202) {
              return problemText(response).then(function (text) { throw new Error(text); });
            }
            return response.json();
          })
          .then(function (accepted) {
            document.getElementById("follow").hidden = false;
            var link = document.getElementById("run-link");
            link.textContent = accepted.id.slice(0, 8);
            link.href = "/?page=run&id=" + accepted.id;
            var status = document.getElementById("run-status");
            var bar = document.getElementById("run-progress");
            return follow(accepted.id, function (name, data) {
              if (data.status) { status.textContent = data.status; }
              if (name === "stage") { document.getElementById("run-stage").textContent = data.stage; }
              if (name === "progress" && data.total) { bar.max = data.total; bar.value = data.bars; }
              if (name === "done") {
                bar.value = bar.max;
                var report = document.getElementById("run-report");
                report.href = "/api/v1/backtests/" + accepted.id + "/report?format=html";
                openReport(report);
                document.getElementById("run-done").hidden = false;
              }
              if (name === "failed" && data.error_message) { status.textContent += " — " + data.error_message; }
            });
          })
          .catch(function (problem) {
            if (problem.message !== "unauthorized") { error.textContent = problem.message; error.hidden = false; }
          })
          .then(function () { document.getElementById("submit-run").disabled = false; });
      });
    }, function () {});
  }

  var pages = {runs: runsPage, run: runPage, compare: comparePage, "new": newPage};
  function show() { (pages[body.dataset.page] || runsPage)(); }
  show();
})();
