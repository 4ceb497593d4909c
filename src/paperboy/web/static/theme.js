/* Runs in <head> before the page paints: apply the reader's saved theme so there is no flash. */
(function () {
  try {
    var saved = window.localStorage.getItem("paperboy-theme");
    if (saved === "light" || saved === "dark") {
      document.documentElement.setAttribute("data-theme", saved);
    }
  } catch (e) { /* storage disabled: follow the system setting */ }
})();
