/* Submit the one-button sign-in form at once where scripts run.  The link's GET only shows this form (mail
   scanners that prefetch links do not use it up); the POST uses the link. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-auto-submit]");
  if (form) form.submit();
})();
