/* kb help widget panel: a dialog in the loader's shadow root. Suggestions for the host page, search as you
   type, articles read in place with the vote, and the contact form with answers before a ticket.
   No framework; styles come from panel.css by <link>; nothing is stored before the panel is opened. */
(function (w, d) {
  "use strict";
  var W = w.kbWidget;
  if (!W || W.panel) return;
  var base = W.base, root = W.root, button = W.button, host = W.host;
  var FALLBACK = { help: "Help", close: "Close", refused: "Help is not available on this site.",
    error: "Sorry, something went wrong. Please try again.", loading: "Loading…", back: "Back" };
  var STORE_KEY = "kb-widget-token";
  var S = { open: false, token: null, texts: {}, reasons: [], locale: W.locale, dir: "ltr", identity: null,
    prefill: {}, override: null, started: null, refused: false, query: "", seq: 0, path: location.pathname,
    draft: null, back: null, lastFocus: null, timer: 0 };
  var handlers = {};
  var original = { push: history.pushState, replace: history.replaceState };

  function t(key) { return S.texts[key] || FALLBACK[key] || key; }
  function emit(name, detail) {
    (handlers[name] || []).forEach(function (cb) {
      try { cb(detail || {}); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }
  function el(tag, attrs, kids) {
    var e = d.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === "text") e.textContent = v;
      else if (k === "cls") e.className = v;
      else if (k === "on") Object.keys(v).forEach(function (ev) { e.addEventListener(ev, v[ev]); });
      else e.setAttribute(k, v === true ? "" : v);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? d.createTextNode(c) : c); });
    return e;
  }
  function plain(html) { return new DOMParser().parseFromString(html || "", "text/html").body.textContent || ""; }

  // -- the dialog ---------------------------------------------------------------------------------------
  var css = el("link", { rel: "stylesheet", href: base + "/widget/panel.css" });
  var cssReady = new Promise(function (ok) { css.onload = css.onerror = ok; });
  var title = el("h2", { id: "kb-title", cls: "kb-title", text: t("help") });
  var close = el("button", { type: "button", cls: "kb-close", "aria-label": t("close"), text: "×", on: { click: hide } });
  var label = el("label", { "for": "kb-q", cls: "kb-sr", text: "Search" });
  var input = el("input", { id: "kb-q", type: "search", autocomplete: "off", enterkeyhint: "search", on: { input: typed } });
  var body = el("div", { cls: "kb-body" });
  var status = el("p", { cls: "kb-sr", role: "status" });
  var contact = el("button", { type: "button", cls: "kb-link", on: { click: function () { showContact(); } } });
  var panel = el("div", { cls: "kb-panel" + (host.style.left ? " kb-left" : ""), role: "dialog", "aria-modal": "true",
    "aria-labelledby": "kb-title", hidden: true }, [
    el("div", { cls: "kb-head" }, [title, close]),
    el("div", { cls: "kb-searchbar" }, [label, input]),
    body, status,
    el("div", { cls: "kb-foot" }, [contact])
  ]);
  root.insertBefore(css, root.firstChild);
  root.appendChild(panel);
  panel.addEventListener("keydown", keys);

  function words() {
    title.textContent = t("help");
    close.setAttribute("aria-label", t("close"));
    label.textContent = t("search");
    input.placeholder = t("search");
    contact.textContent = t("contact");
    button.setAttribute("aria-label", t("help"));
    panel.setAttribute("dir", S.dir);
    panel.setAttribute("lang", S.locale);
  }

  function focusables() {
    return [].filter.call(panel.querySelectorAll("a[href],button,input,textarea,select,summary,[tabindex]"), function (e) {
      return !e.disabled && e.getAttribute("tabindex") !== "-1" && e.getClientRects().length;
    });
  }
  function keys(e) {
    if (e.key === "Escape") { e.preventDefault(); hide(); return; }
    if (e.key !== "Tab") return;
    var list = focusables(), first = list[0], last = list[list.length - 1], now = root.activeElement;
    if (!list.length) return;
    if (e.shiftKey && (now === first || list.indexOf(now) < 0)) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (now === last || list.indexOf(now) < 0)) { e.preventDefault(); first.focus(); }
  }

  // -- talking to kb ----------------------------------------------------------------------------------
  function request(path, params, post) {
    params = params || {};
    params.t = S.token || "";
    params.locale = S.locale;
    params.page = location.pathname;
    var q = new URLSearchParams(params), url = base + path, opts = { method: post ? "POST" : "GET",
      headers: { Accept: "application/json" }, credentials: "omit", mode: "cors" };
    if (post) opts.body = q; else url += "?" + q;
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { j.status = r.status; return j; });
    });
  }
  function api(path, params, post) {
    return start().then(function () { return request(path, Object.assign({}, params), post); }).then(function (j) {
      if (j.status !== 401) return j;
      S.started = null;
      return start(true).then(function () { return request(path, Object.assign({}, params), post); });
    });
  }
  function start(renew) {
    if (S.started && !renew) return S.started;
    var old = S.token;
    try { old = old || sessionStorage.getItem(STORE_KEY); } catch (e) { /* storage off: a new visitor */ }
    S.started = fetch(base + "/widget/session?" + new URLSearchParams({ locale: S.locale, t: old || "" }), {
      headers: { Accept: "application/json" }, credentials: "omit", mode: "cors"
    }).then(function (r) {
      if (!r.ok) throw new Error("refused");
      return r.json();
    }).then(function (j) {
      S.token = j.token; S.texts = j.texts; S.reasons = j.reasons || []; S.locale = j.locale; S.dir = j.dir;
      try { sessionStorage.setItem(STORE_KEY, j.token); } catch (e) { /* fine: memory only */ }
      words();
    }, function (e) {
      S.refused = true; S.started = null;
      throw e;
    });
    return S.started;
  }

  // -- views --------------------------------------------------------------------------------------------
  function view(nodes, backTo) {
    body.textContent = "";
    contact.hidden = false;
    if (backTo) body.appendChild(el("button", { type: "button", cls: "kb-back", text: t("back"), on: { click: backTo } }));
    nodes.forEach(function (n) { if (n) body.appendChild(n); });
    body.scrollTop = 0;
  }
  function note(text, cls) {
    view([el("p", { cls: cls || "kb-note", text: text })]);
    status.textContent = text;
  }
  function failed() { note(S.refused ? t("refused") : t("error"), "kb-note kb-error"); }

  function list(heading, items, from, searchId) {
    var ul = el("ul", { cls: "kb-list" });
    items.forEach(function (a, i) {
      ul.appendChild(el("li", {}, [el("button", { type: "button", cls: "kb-item", on: { click: function () {
        read(a.id, a.anchor, from, searchId, i + 1);
      } } }, [el("span", { cls: "kb-item-title", dir: "auto", text: a.title }),
        el("span", { cls: "kb-item-text", dir: "auto", text: plain(a.snippet || a.summary) })])]));
    });
    status.textContent = items.length ? heading + ": " + items.length : t("none");
    return [el("h3", { cls: "kb-h", text: heading }), items.length ? ul : el("p", { cls: "kb-note", text: t("none") })];
  }

  function suggestions() {
    var seq = ++S.seq;
    note(t("loading"));
    api("/widget/context", { title: d.title, slugs: S.override ? S.override.join(",") : "" }).then(function (j) {
      if (seq !== S.seq) return;
      if (j.status !== 200) return failed();
      view(list(t("suggested"), j.articles || [], "suggestion", j.search_id));
    }, failed);
  }

  function typed() {
    clearTimeout(S.timer);
    S.timer = setTimeout(function () { search(input.value); }, 180);
  }
  function search(text) {
    S.query = text.trim();
    if (S.query.length < 2) { S.seq++; return suggestions(); }
    var seq = ++S.seq, q = S.query;
    api("/widget/suggest", { q: q }).then(function (j) {
      if (seq !== S.seq) return;
      if (j.status !== 200) return failed();
      view(list(t("results"), j.suggestions || [], "search", j.search_id));
      emit("search", { query: q, results: (j.suggestions || []).length });
    }, failed);
  }

  function current() { return S.query ? function () { search(S.query); } : suggestions; }

  function read(id, anchor, from, searchId, position, backTo) {
    var parts = String(id).split("/"), back = backTo || current(), seq = ++S.seq;
    note(t("loading"));
    if (from === "contact") api("/widget/opened", { article_id: id, anchor: anchor || "", search_id: searchId || "", position: position || 0,
      query: S.asked || "" }, true);
    api("/widget/articles/" + encodeURIComponent(parts[0]) + "/" + encodeURIComponent(parts[1]), { from: from || "" }).then(function (a) {
      if (seq !== S.seq) return;
      if (a.status !== 200) return failed();
      var own = a.locale === S.locale, rtl = /^(ar|he|fa|ur)$/.test(a.locale);
      var content = el("div", { cls: "kb-article", lang: a.locale, dir: own ? null : rtl ? "rtl" : "ltr" });
      content.innerHTML = a.html; // kb's own rendered Markdown, from kb's origin
      sections(content, anchor);
      links(content, a, back);
      view([el("h3", { cls: "kb-h kb-article-title", dir: "auto", text: a.title, tabindex: "-1" }), content,
        from === "contact" ? null : voteBox(a),
        el("a", { cls: "kb-out", href: base + a.url + (anchor ? "#" + anchor : ""), target: "_blank", rel: "noopener", text: t("open_site") })], back);
      var open = anchor && content.querySelector("details[open]");
      if (open) open.scrollIntoView({ block: "start" });
      emit("article-viewed", { id: a.id, title: a.title, anchor: anchor || "" });
    }, failed);
  }

  function sections(content, anchor) {
    var nodes = [].slice.call(content.childNodes), box = null;
    nodes.forEach(function (n) {
      if (n.nodeName === "H2") {
        box = el("details", { cls: "kb-section", open: !anchor || n.id === anchor });
        var summary = el("summary", { text: n.textContent });
        box.id = n.id;
        box.appendChild(summary);
        content.insertBefore(box, n);
        content.removeChild(n);
      } else if (box) box.appendChild(n);
    });
    if (anchor && !content.querySelector("details[open]")) {
      var target = content.querySelector("[id='" + anchor.replace(/'/g, "") + "']");
      var holder = target && target.closest("details");
      if (holder) holder.open = true;
    }
  }

  function links(content, article, back) {
    [].forEach.call(content.querySelectorAll("a[href]"), function (a) {
      var href = a.getAttribute("href");
      if (href.charAt(0) === "#") return;
      a.href = new URL(href, base + article.url).href;
    });
    [].forEach.call(content.querySelectorAll("img[src]"), function (img) {
      img.src = new URL(img.getAttribute("src"), base + article.url).href;
    });
    content.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a[href]");
      if (!a) return;
      var href = a.getAttribute("href");
      if (href.charAt(0) === "#") {
        e.preventDefault();
        var target = content.querySelector("[id='" + href.slice(1).replace(/'/g, "") + "']");
        var holder = target && (target.nodeName === "DETAILS" ? target : target.closest("details"));
        if (holder) holder.open = true;
        if (target) target.scrollIntoView({ block: "start" });
        return;
      }
      var url = new URL(a.href), m = url.pathname.match(/^\/([a-z]{2,3}(?:-[a-z]+)?)\/articles\/([^/]+)$/i);
      if (url.origin === new URL(base).origin && m) {
        e.preventDefault();
        read(m[1] + "/" + m[2], url.hash.slice(1), "article", null, 0, back);
      } else { a.target = "_blank"; a.rel = "noopener"; }
    });
  }

  function voteBox(a) {
    var box = el("div", { cls: "kb-vote" });
    function send(params, after) {
      params.article_id = a.id; params.query = S.query;
      api("/widget/vote", params, true).then(function (j) {
        if (j.status !== 200) { box.appendChild(el("p", { cls: "kb-error", text: j.error || t("error") })); return; }
        after(j);
      }, function () { box.appendChild(el("p", { cls: "kb-error", text: t("error") })); });
    }
    function thanks() { box.textContent = ""; box.appendChild(el("p", { cls: "kb-note", text: t("thanks") })); }
    function vote(helpful) {
      send({ step: "vote", helpful: helpful ? "yes" : "no" }, function (j) {
        emit("vote", { id: a.id, helpful: helpful });
        if (j.step !== "reason") return thanks();
        box.textContent = "";
        var form = el("form", { cls: "kb-form" }), fields = el("fieldset", {}, [el("legend", { text: t("why") })]);
        S.reasons.forEach(function (r) {
          fields.appendChild(el("label", { cls: "kb-choice" }, [el("input", { type: "radio", name: "reason", value: r[0] }), r[1]]));
        });
        var comment = el("textarea", { id: "kb-comment", name: "comment", rows: "3", maxlength: "1000", "aria-describedby": "kb-comment-hint" });
        form.appendChild(fields);
        form.appendChild(el("label", { "for": "kb-comment", text: t("comment") }));
        form.appendChild(comment);
        form.appendChild(el("p", { id: "kb-comment-hint", cls: "kb-hint", text: t("comment_hint") }));
        form.appendChild(el("button", { type: "submit", cls: "kb-primary", text: t("send") }));
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var reason = form.querySelector("input[name=reason]:checked");
          send({ step: "reason", helpful: "no", reason: reason ? reason.value : "", comment: comment.value }, function () {
            emit("vote", { id: a.id, helpful: false, reason: reason ? reason.value : "" });
            thanks();
          });
        });
        box.appendChild(form);
        var first = form.querySelector("input");
        if (first) first.focus();
      });
    }
    box.appendChild(el("p", { cls: "kb-ask", text: t("ask") }));
    box.appendChild(el("div", { cls: "kb-row" }, [
      el("button", { type: "button", cls: "kb-secondary", text: t("yes"), on: { click: function () { vote(true); } } }),
      el("button", { type: "button", cls: "kb-secondary", text: t("no"), on: { click: function () { vote(false); } } })
    ]));
    return box;
  }

  // -- the contact form -----------------------------------------------------------------------------------
  function field(name, type, value) {
    var id = "kb-f-" + name, attrs = { id: id, name: name, value: value || "", required: true };
    var input = type === "textarea" ? el("textarea", { id: id, name: name, rows: "5", required: true, minlength: "10" }) :
      el("input", Object.assign(attrs, { type: type, autocomplete: name === "subject" ? "off" : name }));
    if (type === "textarea") input.value = value || "";
    return el("div", { cls: "kb-field" }, [el("label", { "for": id, text: t(name === "message" ? "message" : name) }), input,
      el("p", { cls: "kb-error", id: id + "-error", hidden: true })]);
  }
  function showContact() {
    var me = S.identity || {}, draft = S.draft || {};
    S.seq++; // a list still loading must not replace the form
    var form = el("form", { cls: "kb-form", novalidate: true }, [
      field("name", "text", draft.name || me.name), field("email", "email", draft.email || me.email),
      field("subject", "text", draft.subject || S.prefill.subject), field("message", "textarea", draft.message || S.prefill.message),
      el("button", { type: "submit", cls: "kb-primary", text: t("send_message") })
    ]);
    form.addEventListener("submit", function (e) { e.preventDefault(); sendTicket(form, false); });
    view([el("h3", { cls: "kb-h", text: t("contact") }), form], current());
    contact.hidden = true;
    var empty = [].filter.call(form.querySelectorAll("input,textarea"), function (i) { return !i.value; })[0];
    (empty || form.querySelector("input")).focus();
  }
  function sendTicket(form, send) {
    if (form) S.draft = { name: form.elements.name.value, email: form.elements.email.value,
      subject: form.elements.subject.value, message: form.elements.message.value };
    var me = S.identity || {}, params = Object.assign({ topic: "", from: location.pathname, send: send ? "1" : "" }, S.draft,
      { identity_id: me.id || me.user_id || "", identity_email: me.email || "", identity_token: me.token || "" });
    var submit = form && form.querySelector("button[type=submit]");
    if (submit) submit.disabled = true;
    api("/widget/ticket", params, true).then(function (j) {
      if (submit) submit.disabled = false;
      if (j.step === "invalid" && form) {
        Object.keys(j.errors || {}).forEach(function (k) {
          var p = form.querySelector("#kb-f-" + (k === "came_from" ? "message" : k) + "-error");
          if (p) { p.textContent = j.errors[k]; p.hidden = false; p.previousSibling.setAttribute("aria-describedby", p.id); }
        });
        var bad = form.querySelector(".kb-error:not([hidden])");
        if (bad) bad.previousSibling.focus();
        return;
      }
      if (j.step === "suggest") return deflect(j);
      if (j.step === "sent") {
        S.draft = null;
        view([el("p", { cls: "kb-note kb-done", text: t("sent") }), j.reference ? el("p", { cls: "kb-note" }, [t("reference") + " ", el("strong", { text: j.reference })]) : null]);
        emit("ticket-sent", { reference: j.reference, verified: !!j.verified });
        return;
      }
      failed();
    }, function () { if (submit) submit.disabled = false; failed(); });
  }
  function deflect(j) {
    var items = j.suggestions || [], ul = el("ul", { cls: "kb-list" });
    S.asked = j.query || ""; // the words these answers were suggested for, sent back with what the visitor does
    function again() { deflect(j); }
    items.forEach(function (a, i) {
      ul.appendChild(el("li", { cls: "kb-deflect" }, [
        el("button", { type: "button", cls: "kb-item", on: { click: function () { read(a.id, a.anchor, "contact", j.search_id, i + 1, again); } } },
          [el("span", { cls: "kb-item-title", dir: "auto", text: a.title }), el("span", { cls: "kb-item-text", dir: "auto", text: plain(a.snippet) })]),
        el("button", { type: "button", cls: "kb-secondary", text: t("answered"), on: { click: function () {
          api("/widget/vote", { article_id: a.id, step: "vote", helpful: "yes", source: "contact",
            query: S.asked || "" }, true).then(function (r) {
            if (r.status !== 200) return failed();
            S.draft = null;
            emit("vote", { id: a.id, helpful: true, source: "contact" });
            note(t("glad"), "kb-note kb-done");
          }, failed);
        } } })
      ]));
    });
    view([el("h3", { cls: "kb-h", text: t("before") }), ul,
      el("button", { type: "button", cls: "kb-primary", text: t("send_anyway"), on: { click: function () { sendTicket(null, true); } } })],
    showContact);
  }

  // -- open, close, commands ------------------------------------------------------------------------------
  function show() {
    if (S.open) return Promise.resolve();
    S.open = true;
    S.lastFocus = d.activeElement;
    button.setAttribute("aria-expanded", "true");
    note(t("loading"));
    var ready = start(); // in parallel with the stylesheet
    ready.then(null, function () { /* said below */ });
    return cssReady.then(function () {
      panel.hidden = false;
      fit();
      input.focus();
      emit("open");
      return ready.then(null, function () { failed(); throw new Error("refused"); });
    });
  }
  function hide() {
    if (!S.open) return;
    S.open = false;
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    var back = S.lastFocus === host || !S.lastFocus || S.lastFocus === d.body ? button : S.lastFocus;
    back.focus();
    emit("close");
  }
  function openWith(then) {
    show().then(then, function () { /* refused: already said */ });
  }
  function fit() { // a phone's keyboard shrinks the visual viewport: keep the whole panel above it
    var vv = w.visualViewport;
    panel.style.height = vv && S.open && w.innerWidth <= 480 ? vv.height + "px" : "";
  }
  if (w.visualViewport) w.visualViewport.addEventListener("resize", fit);

  function route() {
    if (location.pathname === S.path) return;
    S.path = location.pathname;
    S.override = null;
    if (S.open && !S.query) suggestions();
  }
  history.pushState = function () { var r = original.push.apply(this, arguments); route(); return r; };
  history.replaceState = function () { var r = original.replace.apply(this, arguments); route(); return r; };
  w.addEventListener("popstate", route);

  function destroy() {
    history.pushState = original.push;
    history.replaceState = original.replace;
    w.removeEventListener("popstate", route);
    if (w.visualViewport) w.visualViewport.removeEventListener("resize", fit);
    W.destroy();
  }

  var commands = {
    open: function () { openWith(function () { if (!S.query) suggestions(); }); },
    close: hide,
    toggle: function () { if (S.open) hide(); else commands.open(); },
    search: function (text) { input.value = text || ""; openWith(function () { search(input.value); }); },
    suggest: function (slugs) { S.override = [].concat(slugs || []); if (S.open && !S.query) suggestions(); },
    article: function (slug) {
      var id = String(slug).indexOf("/") > 0 ? slug : S.locale + "/" + slug;
      openWith(function () { read(id, "", "suggestion"); });
    },
    identify: function (who) { S.identity = who || null; },
    prefill: function (what) { S.prefill = what || {}; },
    on: function (name, cb) { if (typeof cb === "function") (handlers[name] = handlers[name] || []).push(cb); },
    destroy: destroy
  };
  W.panel = {
    run: function () {
      while (W.queue.length) {
        var c = W.queue.shift(), fn = commands[c[0]];
        if (fn) fn.apply(null, [].slice.call(c, 1));
        if (c[0] === "destroy") return;
      }
    }
  };
  words();
  W.panel.run();
})(window, document);
