// The account menu is a <details>: it works without script; this only closes it on a click
// elsewhere or on Escape, as people expect of a menu.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.account-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.account-menu[open]")) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
