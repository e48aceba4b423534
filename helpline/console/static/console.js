// Staff console: live updates over Server-Sent Events, quick replies, confirmations. No dependencies.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var status = document.getElementById("live-status");

  function refresh(url, target, after) {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { target.innerHTML = html; if (after) after(); } })
      .catch(function () { /* the next event or the periodic refresh tries again */ });
  }

  function refreshQueue() {
    var rows = document.getElementById("queue-rows");
    if (!rows) return;
    var before = {};
    rows.querySelectorAll("tr[data-ticket]").forEach(function (tr) { before[tr.getAttribute("data-ticket")] = true; });
    refresh("/console/queue/rows" + window.location.search, rows, function () {
      rows.querySelectorAll("tr[data-ticket]").forEach(function (tr) {
        if (!before[tr.getAttribute("data-ticket")]) tr.classList.add("new");
      });
    });
  }

  function scrollTranscript() {
    var t = document.getElementById("transcript");
    if (t && t.lastElementChild) t.lastElementChild.scrollIntoView({ block: "nearest" });
  }

  function refreshTicket() {
    var live = document.getElementById("live");
    var id = body.getAttribute("data-ticket");
    if (live && id) refresh("/console/tickets/" + id + "/live", live, scrollTranscript);
  }

  function onChange(data) {
    if (page === "queue") refreshQueue();
    if (page === "ticket") {
      var id = Number(body.getAttribute("data-ticket"));
      if (data.all || (data.tickets || []).indexOf(id) >= 0) refreshTicket();
    }
  }

  if ((page === "queue" || page === "ticket") && window.EventSource) {
    var source = new EventSource("/console/events");
    source.addEventListener("hello", function () {
      if (status) { status.hidden = false; status.classList.remove("down"); status.textContent = "● Trực tiếp"; }
      onChange({ all: true });
    });
    source.addEventListener("tickets", function (e) {
      var data = {};
      try { data = JSON.parse(e.data); } catch (err) { data = { all: true }; }
      onChange(data);
    });
    source.addEventListener("logout", function () { window.location.reload(); });
    source.onerror = function () {
      if (status) { status.hidden = false; status.classList.add("down"); status.textContent = "Mất kết nối, đang thử lại…"; }
    };
    // Waiting times move even when nothing else changes.
    window.setInterval(function () { onChange({ all: page === "queue" }); }, 30000);
  }

  if (page === "ticket") scrollTranscript();

  document.querySelectorAll("button.chip[data-text]").forEach(function (button) {
    button.addEventListener("click", function () {
      var box = document.getElementById("reply-text");
      if (!box) return;
      var text = button.getAttribute("data-text");
      box.value = box.value ? box.value.replace(/\s+$/, "") + "\n" + text : text;
      box.focus();
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  var filters = document.getElementById("filters");
  if (filters) {
    filters.querySelectorAll("select, input[type=checkbox]").forEach(function (el) {
      el.addEventListener("change", function () { filters.submit(); });
    });
  }
})();
