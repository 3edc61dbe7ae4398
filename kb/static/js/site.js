// Progressive enhancement only: the search box suggests articles as you type. Without this file the
// search form still submits to /search.
(function () {
  "use strict";
  function debounce(fn, ms) { var t; return function () { var a = arguments; clearTimeout(t); t = setTimeout(function () { fn.apply(null, a); }, ms); }; }

  function setupTypeahead(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var status = document.getElementById("q-status");
    if (!list) return;
    var active = -1, items = [], controller = null;

    function close() { list.hidden = true; list.innerHTML = ""; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; items = []; }
    function highlight(i) {
      items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (i >= 0) input.setAttribute("aria-activedescendant", items[i].id); else input.removeAttribute("aria-activedescendant");
    }
    function render(data) {
      list.innerHTML = "";
      items = (data.suggestions || []).map(function (s, i) {
        var li = document.createElement("li");
        li.id = "q-opt-" + i; li.setAttribute("role", "option");
        var a = document.createElement("a");
        a.href = "/go?a=" + encodeURIComponent(s.id) + "&p=" + (i + 1) + "&h=" + encodeURIComponent(s.anchor || "") + (data.search_id ? "&s=" + data.search_id : "");
        a.tabIndex = -1;
        a.textContent = s.title;
        if (s.section) { var small = document.createElement("small"); small.textContent = s.section; a.appendChild(small); }
        li.appendChild(a); list.appendChild(li);
        return li;
      });
      var n = items.length;
      list.hidden = n === 0;
      input.setAttribute("aria-expanded", n ? "true" : "false");
      if (status) status.textContent = n ? n + (n === 1 ? " suggestion" : " suggestions") + " available" : "";
      active = -1;
    }
    var fetchSuggestions = debounce(function () {
      var q = input.value.trim();
      if (q.length < 3) { close(); return; }
      if (controller) controller.abort();
      controller = new AbortController();
      var url = input.dataset.suggestUrl + "?q=" + encodeURIComponent(q) + "&locale=" + encodeURIComponent(input.dataset.locale || "");
      fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(render).catch(function () {});
    }, 250);

    input.addEventListener("input", fetchSuggestions);
    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight((active + 1) % items.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight((active - 1 + items.length) % items.length); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); window.location = items[active].querySelector("a").href; }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 200); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-suggest-url]").forEach(setupTypeahead);
  });
})();
