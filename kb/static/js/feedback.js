// "Did this answer your question?", answered in place: the same forms post in the background and the next
// step appears without leaving the article. Without this file the forms post and come back to #feedback.
(function () {
  "use strict";

  function setup(box) {
    var vote = box.querySelector(".feedback-vote");
    var reason = box.querySelector(".feedback-reason");
    var thanks = box.querySelector(".feedback-thanks");
    if (!vote || !reason || !thanks || !window.fetch || !window.FormData) return;

    function show(step, message) {
      vote.hidden = step !== "ask";
      reason.hidden = step !== "reason";
      var old = box.querySelector(".feedback-error");
      if (old) old.remove();
      if (message) {
        var p = document.createElement("p");
        p.className = "error-text feedback-error";
        p.setAttribute("role", "alert");
        p.textContent = message;
        box.insertBefore(p, step === "reason" ? reason : vote);
      }
      if (step === "thanks") thanks.textContent = thanks.dataset.thanks;
      if (step === "reason") {
        var first = reason.querySelector("input[type=radio]");
        if (first) first.focus();
      }
    }

    function send(form, submitter, step) {
      var data = new FormData(form);
      if (submitter && submitter.name) data.append(submitter.name, submitter.value);
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": data.get("csrf_token") || "" }
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        buttons.forEach(function (b) { b.disabled = false; });
        if (res.ok) show(res.body.step || "thanks");
        else show(step, res.body.error || "Sorry, something went wrong. Please try again.");
      }).catch(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        show(step, "Sorry, we could not reach the help center. Please try again.");
      });
    }

    vote.addEventListener("submit", function (e) { e.preventDefault(); send(vote, e.submitter, "ask"); });
    reason.addEventListener("submit", function (e) { e.preventDefault(); send(reason, e.submitter, "reason"); });
  }

  function init() { document.querySelectorAll("[data-feedback]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
