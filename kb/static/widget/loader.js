/* kb help widget loader: one script tag. Draws the help button and keeps the kb(...) command queue;
   the panel (panel.js + panel.css) loads on the first hover, focus or press. No cookie, no storage. */
(function (w, d) {
  "use strict";
  var script = d.currentScript;
  if (!script || w.kbWidget) return;
  var base = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var data = script.dataset || {};
  var lang = (data.kbLocale || d.documentElement.lang || "en").toLowerCase().split("-")[0];
  var stub = w.kb;
  var queue = (stub && stub.q) || [];
  var loading = false;

  function kb() {
    var args = [].slice.call(arguments);
    if (args[0] === "destroy" && !w.kbWidget.panel) return destroy();
    queue.push(args);
    if (w.kbWidget.panel) w.kbWidget.panel.run();
    else if (/^(open|toggle|search|article)$/.test(args[0])) load();
  }

  var host = d.createElement("div");
  host.setAttribute("data-kb-widget", "");
  var root = host.attachShadow({ mode: "open" });
  var button = d.createElement("button");
  button.type = "button";
  button.className = "kb-launcher";
  button.setAttribute("aria-label", data.kbLabel || (lang === "ar" ? "المساعدة" : lang === "fr" ? "Aide" : "Help"));
  button.setAttribute("aria-haspopup", "dialog");
  button.setAttribute("aria-expanded", "false");
  button.textContent = "?";
  var side = data.kbPosition === "bottom-left" ? "left" : "right";
  var hs = host.style;
  hs.position = "fixed";
  hs.bottom = "20px";
  hs[side] = "20px";
  hs.zIndex = data.kbZIndex || "2147483000";
  hs.width = hs.height = "0";
  var bs = button.style; // set from script (CSSOM), so a strict style-src still allows it
  bs.position = "absolute";
  bs.bottom = "0";
  bs[side] = "0";
  bs.width = bs.height = "56px";
  bs.borderRadius = "50%";
  bs.border = "0";
  bs.margin = "0";
  bs.padding = "0";
  bs.cursor = "pointer";
  bs.font = "700 26px/56px system-ui, sans-serif";
  bs.color = "#fff";
  bs.background = data.kbColor || "#1f5f99";
  bs.boxShadow = "0 4px 14px rgba(0,0,0,.28)";
  root.appendChild(button);

  function load() {
    if (loading) return;
    loading = true;
    var s = d.createElement("script");
    s.src = base + "/widget/panel.js";
    s.async = true;
    if (script.nonce) s.nonce = script.nonce;
    d.head.appendChild(s);
  }

  function destroy() {
    host.remove();
    w.kb = function () {};
    w.kbWidget = null;
  }

  button.addEventListener("mouseenter", load);
  button.addEventListener("focus", load);
  button.addEventListener("touchstart", load, { passive: true });
  button.addEventListener("click", function () {
    queue.push(["toggle"]);
    if (w.kbWidget.panel) w.kbWidget.panel.run();
    else load();
  });

  w.kbWidget = { base: base, locale: lang, host: host, root: root, button: button, queue: queue, destroy: destroy, panel: null };
  w.kb = kb;
  kb.q = queue;
  function attach() {
    d.body.appendChild(host);
    if (queue.some(function (c) { return /^(open|toggle|search|article)$/.test(c[0]); })) load();
  }
  if (d.body) attach();
  else d.addEventListener("DOMContentLoaded", attach);
})(window, document);
