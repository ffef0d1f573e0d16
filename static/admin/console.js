/* The staff console's small behaviours (no inline script: CSP default-src 'self'). Every page
   works without this file; it makes long lists filterable as one types, lets images be dropped
   onto the upload form with a description each, and lets a card-news series be reordered by
   drag and drop (the page's 앞으로/뒤로 buttons do the same from the keyboard). */
(function () {
  "use strict";

  function setUpFilter(box) {
    var input = box.querySelector("[data-filter-input]");
    var count = box.querySelector("[data-filter-count]");
    var items = Array.prototype.slice.call(box.querySelectorAll("[data-filter-text]"));
    if (!input) return;
    function apply() {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      items.forEach(function (item) {
        var text = item.getAttribute("data-filter-text").toLowerCase();
        var checked = item.querySelector("input:checked") !== null;
        var match = checked || words.every(function (w) { return text.indexOf(w) !== -1; });
        item.hidden = !match;
        if (match) shown += 1;
      });
      if (count) count.textContent = words.length ? shown + "개 부서가 보입니다 (고른 부서는 늘 보입니다)" : "";
    }
    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") event.preventDefault(); /* Enter filters; it does not submit */
    });
  }

  /* One description field per chosen file, labelled with the file's name. */
  function describeFiles(form, files) {
    var list = form.querySelector("[data-alt-list]");
    if (!list) return;
    var typed = {};
    list.querySelectorAll("input[name='alt_text']").forEach(function (input) {
      if (input.dataset.file) typed[input.dataset.file] = input.value;
    });
    list.textContent = "";
    Array.prototype.forEach.call(files, function (file, n) {
      var p = document.createElement("p");
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.id = "alt_text_" + n;
      input.name = "alt_text";
      input.required = true;
      input.maxLength = 300;
      input.dataset.file = file.name;
      input.value = typed[file.name] || "";
      label.htmlFor = input.id;
      label.textContent = (n + 1) + ". " + file.name + " 설명 (대체 텍스트)";
      p.appendChild(label);
      p.appendChild(input);
      list.appendChild(p);
    });
  }

  function setUpDropzone(form) {
    var input = form.querySelector("input[type='file']");
    var target = form.querySelector("[data-drop-target]");
    var max = parseInt(form.getAttribute("data-max"), 10) || 10;
    if (!input || !target) return;
    input.addEventListener("change", function () { describeFiles(form, input.files); });
    ["dragenter", "dragover"].forEach(function (name) {
      target.addEventListener(name, function (event) {
        event.preventDefault();
        target.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      target.addEventListener(name, function () { target.classList.remove("over"); });
    });
    target.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      var chosen = new DataTransfer();
      Array.prototype.slice.call(event.dataTransfer.files, 0, max).forEach(function (file) {
        chosen.items.add(file);
      });
      input.files = chosen.files;
      describeFiles(form, input.files);
      var first = form.querySelector("[data-alt-list] input");
      if (first) first.focus();
    });
  }

  /* Drag an image onto another to move it there; the new order is posted as a form. */
  function setUpSortable(list) {
    var dragged = null;
    list.querySelectorAll("[data-position]").forEach(function (item) {
      item.addEventListener("dragstart", function (event) {
        dragged = item;
        item.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", item.getAttribute("data-position"));
      });
      item.addEventListener("dragend", function () { item.classList.remove("dragging"); });
      item.addEventListener("dragover", function (event) {
        if (dragged && dragged !== item) event.preventDefault();
      });
      item.addEventListener("drop", function (event) {
        event.preventDefault();
        if (!dragged || dragged === item) return;
        var items = Array.prototype.slice.call(list.children);
        var before = items.indexOf(dragged) > items.indexOf(item) ? item : item.nextSibling;
        list.insertBefore(dragged, before);
        postOrder(list);
      });
    });
  }

  function postOrder(list) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = list.getAttribute("data-order-action");
    form.hidden = true;
    function field(name, value) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    field("csrf_token", list.getAttribute("data-csrf"));
    list.querySelectorAll("[data-position]").forEach(function (item) {
      field("order", item.getAttribute("data-position"));
    });
    document.body.appendChild(form);
    form.submit();
  }

  document.querySelectorAll("[data-filter-list]").forEach(setUpFilter);
  document.querySelectorAll("[data-dropzone]").forEach(setUpDropzone);
  document.querySelectorAll("[data-sortable]").forEach(setUpSortable);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
