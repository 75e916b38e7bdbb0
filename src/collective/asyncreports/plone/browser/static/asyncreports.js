// Live updates while jobs are queued or running, without a reload:
// - listings (My reports, the queue view): their rows, from the JSON of
//   @@asyncreports-status, until every job shown has ended;
// - a job's page: its parts (state, progress, times, result, buttons,
//   history), replaced by those of @@asyncreports-job-parts until it ends.
// Both read-only GETs, polled by the one rule of ``every``.
(function () {
  "use strict";
  var INTERVAL = 2500;
  var LONGEST = 60000;

  // Run ``step`` every INTERVAL while it resolves to true: not while the
  // browser tab is hidden (it goes on once it is shown), and twice as long
  // after each failed read, up to LONGEST.
  function every(step) {
    var delay = INTERVAL;
    var timer = null;
    var ended = false;

    function schedule() {
      if (timer === null && !ended && !document.hidden) {
        timer = window.setTimeout(run, delay);
      }
    }

    function run() {
      timer = null;
      if (document.hidden) { return; }
      step()
        .then(function (goOn) { delay = INTERVAL; ended = !goOn; },
              function () { delay = Math.min(delay * 2, LONGEST); })
        .then(schedule);
    }

    document.addEventListener("visibilitychange", schedule);
    schedule();
  }

  function read(url, accept) {
    return window.fetch(url, {credentials: "same-origin", cache: "no-store",
                              headers: {Accept: accept}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response;
      });
  }

  // -- listings: rows updated from JSON ------------------------------------

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href + "/@@download/file";
    a.textContent = text;
    return a;
  }

  function update(row, job) {
    // The state ("waiting" while claimed but not started) and where it
    // stands (queue/position.py): what is ahead of it and why it waits.
    var state = row.querySelector("[data-field=state]");
    var standing = row.querySelector("[data-field=standing]");
    if (state && standing && state.contains(standing)) {
      state.firstChild.textContent = job.state_title + " ";
      standing.textContent = job.state_text ? "(" + job.state_text + ")" : "";
    } else {
      if (state) { state.textContent = job.state_title; }
      if (standing) { standing.textContent = job.state_text; }
    }
    var progress = row.querySelector("[data-field=progress]");
    if (progress) { progress.setAttribute("aria-valuenow", job.progress); }
    var bar = row.querySelector("[data-field=progress] .progress-bar");
    if (bar) {
      bar.style.width = job.progress + "%";
      bar.textContent = job.progress + "%";
    }
    var message = row.querySelector("[data-field=progress_message]");
    if (message) { message.textContent = job.progress_message || ""; }
    var attempts = row.querySelector("[data-field=attempts]");
    if (attempts) {
      attempts.textContent = job.attempts + "/" + job.max_attempts;
    }
    var links = row.querySelector("[data-field=links]");
    if (links && !job.active) {
      links.textContent = "";
      if (job.result_url) { links.appendChild(link(job.result_url, job.result_label || "PDF")); }
      if (job.error_url) { links.appendChild(link(job.error_url, "Error log")); }
      if (job.full_error_url) {
        var full = document.createElement("a");
        full.href = job.full_error_url;
        full.textContent = "(full)";
        links.appendChild(full);
      }
    }
    if (!job.active) {
      row.removeAttribute("data-active");
      // My reports: a finished job may be chosen for Delete.
      var choose = row.querySelector("[data-field=choose]");
      if (choose && !choose.querySelector("input")) {
        var box = document.createElement("input");
        box.type = "checkbox";
        box.name = "job_ids:list";
        box.value = job.id;
        box.title = "Choose this finished job to delete it";
        choose.appendChild(box);
      }
    }
  }

  function followRows(table) {
    every(function () {
      var rows = table.querySelectorAll("tr[data-active]");
      if (!rows.length) { return Promise.resolve(false); }
      var ids = Array.prototype.map.call(rows, function (row) {
        return row.getAttribute("data-job");
      });
      var url = table.getAttribute("data-asyncreports-status") +
        "?ids=" + encodeURIComponent(ids.join(","));
      return read(url, "application/json")
        .then(function (response) { return response.json(); })
        .then(function (data) {
          data.jobs.forEach(function (job) {
            var row = table.querySelector("tr[data-job='" + job.id + "']");
            if (row) { update(row, job); }
          });
          return table.querySelector("tr[data-active]") !== null;
        });
    });
  }

  // -- a job's page: parts replaced from HTML ------------------------------

  // ``first`` names the URL and the parts' ids (itself first); it says
  // data-active="1" while the job is queued or running. The parts come
  // escaped from the server's templates; none holds the form's token.
  function followParts(first) {
    var url = first.getAttribute("data-refresh-url");
    var ids = first.getAttribute("data-refresh-parts").split(/\s+/);
    function active() {
      var shown = document.getElementById(ids[0]);
      return shown !== null && shown.getAttribute("data-active") === "1";
    }
    if (!active() || !window.DOMParser) { return; }
    every(function () {
      return read(url, "text/html")
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          ids.forEach(function (id) {
            var shown = document.getElementById(id);
            var part = fresh.getElementById(id);
            if (shown && part) { shown.replaceWith(document.importNode(part, true)); }
          });
          return active();
        });
    });
  }

  if (!window.fetch) { return; }
  document.querySelectorAll("table[data-asyncreports-status]").forEach(followRows);
  document.querySelectorAll("[data-refresh-parts]").forEach(followParts);
})();
