/* "Try it" on /api/docs: fill path parameters, send the request, show the answer. */
(function () {
  "use strict";
  document.querySelectorAll("form.try").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var path = form.getAttribute("data-template");
      var query = new URLSearchParams();
      form.querySelectorAll("input[name]").forEach(function (input) {
        var value = input.value.trim();
        if (input.getAttribute("data-in") === "path") {
          path = path.replace("{" + input.name + "}", encodeURIComponent(value).replace(/%2F/g, "/"));
        } else if (value !== "") {
          query.append(input.name, value);
        }
      });
      var url = path + (query.toString() ? "?" + query.toString() : "");
      var out = form.querySelector("pre.response");
      out.hidden = false;
      out.textContent = "GET " + url + "\n\n…";
      fetch(url, { headers: { "Accept": "application/json" } }).then(function (response) {
        return response.text().then(function (body) {
          var shown = body;
          try { shown = JSON.stringify(JSON.parse(body), null, 2); } catch (e) { /* not JSON: show as is */ }
          if (shown.length > 20000) shown = shown.slice(0, 20000) + "\n… (truncated)";
          out.textContent = "GET " + url + "\n" + response.status + " " + response.statusText + "\n\n" + shown;
        });
      }, function (error) {
        out.textContent = "GET " + url + "\n\nrequest failed: " + error;
      });
    });
  });
})();
