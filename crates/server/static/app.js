// Progressive enhancement: upvote without reloading the page. Without JavaScript the vote
// forms post and redirect back, which works just as well.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.vote");
  if (!form || !window.fetch) return;
  event.preventDefault();
  const voted = form.dataset.voted === "true";
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.dataset.api, {
      method: voted ? "DELETE" : "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    });
    if (!response.ok) {
      // Let the server explain (rate limit, expired form...) on a page of its own.
      form.submit();
      return;
    }
    const state = await response.json();
    form.dataset.voted = String(state.voted);
    button.setAttribute("aria-pressed", String(state.voted));
    button.title = state.voted ? "Take back your upvote" : "Upvote";
    form.querySelector(".count").textContent = state.votes;
    form.action = form.action.replace(state.voted ? /\/upvote$/ : /\/unvote$/, state.voted ? "/unvote" : "/upvote");
  } catch (e) {
    form.submit();
  } finally {
    button.disabled = false;
  }
});

// The subscription form's time zone: the browser's own, unless the reader already chose one
// (without JavaScript the field says UTC and can be edited).
document.addEventListener("DOMContentLoaded", () => {
  const field = document.querySelector("form.subscribe input[name=timezone][data-default]");
  if (!field || field.value !== field.dataset.default) return;
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) field.value = zone;
  } catch (e) {
    // An old browser: UTC stays.
  }
});
