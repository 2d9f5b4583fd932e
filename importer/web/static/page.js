// The page's only script (served from the page itself: the CSP allows nothing else).
// Without it, everything still works: the file input, and a page that reloads itself.

// Drop a file on the zone: it becomes the form's file, as if chosen.
for (const zone of document.querySelectorAll(".drop")) {
  const input = zone.querySelector("input[type=file]");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      zone.querySelector(".chosen").textContent = input.files[0].name;
    }
  });
  input.addEventListener("change", () => {
    zone.querySelector(".chosen").textContent = input.files.length ? input.files[0].name : "";
  });
}

// An import under way: its progress, asked every second, the page reloaded once it is over
// (without the script, the page refreshes itself: <noscript> in job.html).
const progress = document.querySelector("#progress[data-status]");
if (progress) {
  const tick = async () => {
    const answer = await fetch(progress.dataset.status, { credentials: "same-origin" });
    const state = await answer.json();
    if (state.finished) { window.location.reload(); return; }
    progress.querySelector(".done").textContent = state.done;
    progress.querySelector(".total").textContent = state.total > 0 ? state.total : "…";
    const bar = progress.querySelector("progress");
    bar.max = state.total > 0 ? state.total : 1;
    bar.value = state.done;
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}
