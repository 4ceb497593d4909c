// The import form of /me: posts the chosen export file as JSON and shows what the server says.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import-form");
  const out = document.getElementById("import-result");
  if (!form || !out) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    out.textContent = "Importing…";
    const response = await fetch("/api/v1/me/import", {
      method: "POST", body: await file.text(), credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf},
    });
    const data = await response.json().catch(() => ({error: response.statusText}));
    out.replaceChildren();
    const head = document.createElement("p");
    head.textContent = response.ok ? "Imported." : "Not imported: " + (data.error || response.status);
    head.className = response.ok ? "import-done" : "error";
    out.append(head);
    for (const note of data.notes || []) {
      const p = document.createElement("p");
      p.textContent = note;
      out.append(p);
    }
  });
});
