// Refresh job rows in place while any of them is queued or running.
// Reads @@asyncreports-status (GET, read-only) every few seconds and stops
// once every job shown is finished.
(function () {
  "use strict";
  var INTERVAL = 2500;

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
      state.firstChild.textContent = job.state_label + " ";
      standing.textContent = job.state_text ? "(" + job.state_text + ")" : "";
    } else {
      if (state) { state.textContent = job.state_label; }
      if (standing) { standing.textContent = job.state_text; }
    }
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
      // A job's page: a finished job can no longer be cancelled.
      var cancel = document.querySelector("[data-asyncreports-cancel='" + job.id + "']");
      if (cancel) { cancel.remove(); }
    }
  }

  function poll(table) {
    var rows = table.querySelectorAll("tr[data-active]");
    if (!rows.length) { return; }
    var ids = Array.prototype.map.call(rows, function (row) {
      return row.getAttribute("data-job");
    });
    var url = table.getAttribute("data-asyncreports-status") +
      "?ids=" + encodeURIComponent(ids.join(","));
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        data.jobs.forEach(function (job) {
          var row = table.querySelector("tr[data-job='" + job.id + "']");
          if (row) { update(row, job); }
        });
      })
      .catch(function () { /* try again next time */ })
      .finally(function () { window.setTimeout(function () { poll(table); }, INTERVAL); });
  }

  document.querySelectorAll("table[data-asyncreports-status]").forEach(function (table) {
    window.setTimeout(function () { poll(table); }, INTERVAL);
  });
})();
