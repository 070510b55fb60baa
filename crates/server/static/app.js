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
