// The contact form, enhanced: articles that may answer the question appear as the merchant types, and
// open in place under the suggestion, so the form is never left and nothing typed is lost. Without this
// file the form still works: the server shows the suggestions on a page before sending.
(function () {
  "use strict";
  var PAUSE_MS = 500;
  var MAX_SUGGESTIONS = 3;
  var SHORT_SCRIPTS = ["ko", "zh", "ja"]; // a few characters already carry a word

  function debounce(fn, ms) {
    var t;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }

  function sectionNodes(html, anchor) {
    // The part of the article under the heading ``anchor``, up to the next heading of the same level;
    // without an anchor (the best match was the introduction), the whole article.
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    var root = doc.body.firstElementChild;
    var nodes = [];
    var start = anchor ? root.querySelector("#" + CSS.escape(anchor)) : null;
    var n;
    if (start) {
      while (start.parentNode !== root) start = start.parentNode;
      var m = /^H([1-6])$/.exec(start.tagName);
      var level = m ? +m[1] : 7;
      for (n = start.nextElementSibling; n; n = n.nextElementSibling) {
        var h = /^H([1-6])$/.exec(n.tagName);
        if (h && +h[1] <= level) break;
        nodes.push(n);
      }
    }
    if (!nodes.length) nodes = Array.prototype.slice.call(root.children); // the match was the intro: all of it
    nodes.forEach(function (node) {
      // ids would clash with the form's (an article heading "Message" is id="message"); links leave in a new tab
      [node].concat(Array.prototype.slice.call(node.querySelectorAll("[id]"))).forEach(function (el) { el.removeAttribute("id"); });
      node.querySelectorAll("a[href]").forEach(function (a) { a.target = "_blank"; a.rel = "noopener"; });
    });
    return nodes;
  }

  function setup(form) {
    var subject = form.querySelector("#subject");
    var message = form.querySelector("#message");
    var panel = document.getElementById("contact-suggestions");
    var list = panel.querySelector(".suggestion-list");
    var status = document.getElementById("contact-status");
    var thanks = document.getElementById("contact-thanks");
    var template = document.getElementById("suggestion-template");
    var strings = JSON.parse(document.getElementById("contact-strings").textContent);
    var locale = form.dataset.locale || "";
    var minChars = SHORT_SCRIPTS.indexOf(locale.split("-")[0]) >= 0 ? 2 : 3;
    var lastQuery = "";
    var controller = null;
    var articles = {}; // article JSON by id, fetched once

    form.querySelector("input[name=js]").value = "1"; // the server skips its page of suggestions
    function csrf() { return form.querySelector("input[name=csrf_token]").value; }
    function post(url, data) {
      return fetch(url, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(data),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() }
      }).catch(function () {});
    }
    // A subject and a few sentences: the whole message is read, within a URL gunicorn accepts (8 KB lines).
    function question() { return (subject.value + " " + message.value).replace(/\s+/g, " ").trim().slice(0, 600); }
    function announce(text) { status.textContent = text; }
    function anyOpen() { return !!list.querySelector(".suggestion-toggle[aria-expanded=true]"); }

    function render(data) {
      var found = (data.suggestions || []).slice(0, MAX_SUGGESTIONS);
      list.innerHTML = "";
      found.forEach(function (s, i) { list.appendChild(item(s, i + 1, data)); });
      panel.hidden = found.length === 0;
      if (found.length === 1) announce(strings.one);
      else if (found.length > 1) announce(strings.many.replace("{n}", found.length));
      else announce("");
    }

    function item(s, position, data) {
      var li = template.content.firstElementChild.cloneNode(true);
      var answer = li.querySelector(".answer");
      var toggle = li.querySelector(".suggestion-toggle");
      var id = "answer-" + position;
      li.dataset.articleId = s.id;
      li.querySelector(".suggestion-title").textContent = s.title;
      var section = li.querySelector(".suggestion-section");
      if (s.section) section.textContent = s.section; else section.remove();
      li.querySelector(".suggestion-snippet").innerHTML = s.snippet; // escaped by the server, <mark> only
      answer.id = id;
      toggle.setAttribute("aria-controls", id);
      li.querySelector(".answer-more a").href = s.url;
      li.querySelector(".answer-question").id = id + "-question";
      li.querySelector(".answer-vote").setAttribute("aria-labelledby", id + "-question");
      var recorded = false;
      function close() {
        answer.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.textContent = strings.show;
      }
      toggle.addEventListener("click", function () {
        if (toggle.getAttribute("aria-expanded") === "true") { close(); return; }
        toggle.setAttribute("aria-expanded", "true");
        toggle.textContent = strings.hide;
        answer.hidden = false;
        if (!recorded) {
          recorded = true;
          post(form.dataset.openedUrl, { article_id: s.id, search_id: data.search_id, anchor: s.anchor, position: position, query: data.query });
        }
        var body = answer.querySelector(".answer-body");
        if (body.childElementCount) return;
        body.textContent = strings.loading;
        load(s).then(function (article) {
          body.textContent = "";
          sectionNodes(article.html, s.anchor).forEach(function (node) { body.appendChild(document.importNode(node, true)); });
        }).catch(function () { body.textContent = strings.failed; });
      });
      li.querySelectorAll("[data-helpful]").forEach(function (button) {
        button.addEventListener("click", function () {
          var helpful = button.dataset.helpful === "1";
          post(form.dataset.voteUrl, { article_id: s.id, helpful: helpful, query: data.query, search_id: data.search_id });
          if (helpful) { finish(s); return; }
          close();
          announce(strings.noted);
          message.focus();
        });
      });
      return li;
    }

    function load(s) {
      if (articles[s.id]) return Promise.resolve(articles[s.id]);
      var url = form.dataset.articleUrl.replace("__locale__", encodeURIComponent(s.locale)).replace("__slug__", encodeURIComponent(s.slug));
      return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (article) { articles[s.id] = article; return article; });
    }

    function finish(s) {
      // Yes: the flow ends with a thank-you; the form is only hidden, in case they still want to write.
      var link = document.createElement("a");
      link.href = s.url;
      link.textContent = strings.read.replace("{title}", s.title);
      var p = thanks.querySelector(".thanks-link");
      p.innerHTML = "";
      p.appendChild(link);
      form.hidden = true;
      thanks.hidden = false;
      thanks.focus();
    }

    document.getElementById("contact-resume").addEventListener("click", function () {
      thanks.hidden = true;
      form.hidden = false;
      message.focus();
    });

    var refresh = debounce(function () {
      var q = question();
      if (q === lastQuery || anyOpen()) return; // never pull an open answer away from under the reader
      lastQuery = q;
      if (q.length < minChars) { render({ suggestions: [] }); return; }
      if (controller) controller.abort();
      controller = new AbortController();
      var url = form.dataset.suggestUrl + "?source=contact&q=" + encodeURIComponent(q) + "&locale=" + encodeURIComponent(locale);
      fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(render)
        .catch(function () {});
    }, PAUSE_MS);
    subject.addEventListener("input", refresh);
    message.addEventListener("input", refresh);
    if (subject.value) refresh(); // a subject carried over from a search with no results
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("contact-form");
    if (form && window.fetch && window.DOMParser) setup(form);
  });
})();
