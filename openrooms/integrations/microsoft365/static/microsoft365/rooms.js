// Manage Rooms: the header checkbox ticks or clears every room shown. The listing is swapped
// in by htmx, so the handler listens on the document.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  for (const box of all.form.querySelectorAll('input[name="mailbox"]')) box.checked = all.checked;
});
