/* Reader signals, as a progressive enhancement (pages and forms work without it):
   - a paper page reports one view (the page itself may come from the shared cache, so the server cannot count it);
   - counts on cached pages are refreshed, and every paper list gets its papers' counts, from /api/v1/signals;
   - the upvote / save forms call the API instead of reloading the page. */
(function () {
  "use strict";

  function api(bar) { return bar.getAttribute("data-api"); }

  function fmt(n) { return Number(n).toLocaleString("en"); }

  function counted(n, one, many) { return fmt(n) + " " + (n === 1 ? one : many); }

  function fill(bar, state) {
    ["upvotes", "saves", "views"].forEach(function (name) {
      var el = bar.querySelector('[data-count="' + name + '"]');
      if (el) el.textContent = fmt(state.counts[name]);
    });
    if (!state.reader) return;
    bar.querySelectorAll("form.signal-form").forEach(function (form) {
      var on = form.getAttribute("data-name") === "vote" ? state.reader.upvoted : state.reader.saved;
      var button = form.querySelector("button");
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.querySelector(".signal-label").textContent = button.getAttribute(on ? "data-done" : "data-label");
      form.querySelector('input[name="on"]').value = on ? "0" : "1";
    });
  }

  /* The paper page's bar: count the view, then vote and save without reloading. */
  var bar = document.querySelector(".paper-page [data-signals]");
  if (bar) {
    fetch(api(bar) + "/view", { method: "POST", credentials: "same-origin", keepalive: true }).catch(function () {});
    bar.querySelectorAll("form.signal-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var status = bar.querySelector(".signal-status");
        var on = form.querySelector('input[name="on"]').value !== "0";
        fetch(api(bar) + "/" + form.getAttribute("data-name"), {
          method: on ? "POST" : "DELETE",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": form.querySelector('input[name="csrf_token"]').value },
        }).then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
            fill(bar, body);
            status.textContent = "";
          });
        }).catch(function (error) { status.textContent = error.message; });
      });
    });
  }

  /* Counts for every paper shown: the bar above, and one line per card in lists. */
  var cards = [];
  document.querySelectorAll("li.paper h3.paper-title a[href^='/paper/']").forEach(function (link) {
    cards.push({ id: decodeURIComponent(link.getAttribute("href").slice("/paper/".length)), card: link.closest("li") });
  });
  var ids = cards.map(function (c) { return c.id; });
  if (bar) ids.push(bar.getAttribute("data-signals"));
  ids = ids.filter(function (id, i) { return ids.indexOf(id) === i; }).slice(0, 60);
  if (!ids.length) return;
  fetch("/api/v1/signals?ids=" + ids.map(encodeURIComponent).join(","), { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : { papers: {} }; })
    .then(function (body) {
      if (bar && body.papers[bar.getAttribute("data-signals")]) fill(bar, body.papers[bar.getAttribute("data-signals")]);
      cards.forEach(function (c) {
        var state = body.papers[c.id];
        var meta = c.card.querySelector("p.meta");
        if (!state || !meta || meta.querySelector(".card-signals")) return;
        var n = state.counts;
        if (!n.upvotes && !n.saves && !n.views) return;
        var line = document.createElement("span");
        line.className = "card-signals";
        line.textContent = counted(n.upvotes, "upvote", "upvotes") + " \u00b7 " + counted(n.saves, "save", "saves") +
          " \u00b7 " + counted(n.views, "view", "views") +
          (state.reader && state.reader.upvoted ? " \u00b7 you upvoted" : "") +
          (state.reader && state.reader.saved ? " \u00b7 you saved" : "");
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(line);
      });
    }).catch(function () {});
})();
