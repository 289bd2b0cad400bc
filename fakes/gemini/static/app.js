// Page logic of the fake Gemini app. It drives the same request/response shapes as the
// real app (StreamGenerate, batchexecute, content-push upload) against the fake's backend,
// so the browser really waits for the server-side delay.
(() => {
  "use strict";
  const CFG = JSON.parse(document.getElementById("fake-gemini-config").textContent);
  const WIZ = window.WIZ_global_data || {};
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  const ICONS = {
    send: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20l18-8L3 4v6l12 2-12 2z" fill="currentColor"/></svg>',
    stop: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="7" y="7" width="10" height="10" fill="currentColor"/></svg>',
    mic: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="9" y="3" width="6" height="12" rx="3" fill="currentColor"/></svg>',
    close: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2"/></svg>',
    image: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="3" y="5" width="18" height="14" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
    download: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 4v10m-5-5l5 5 5-5M5 19h14" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
    share: '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="6" cy="12" r="2"/><circle cx="18" cy="6" r="2"/><circle cx="18" cy="18" r="2"/></svg>',
    copy: '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="8" y="8" width="11" height="11" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
    up: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 14l5-5 5 5" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
    down: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 10l5 5 5-5" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
    more: '<svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="5" r="2"/><circle cx="12" cy="12" r="2"/><circle cx="12" cy="19" r="2"/></svg>',
  };
  const MODEL_IDS = { Fast: "fbb127bbb056c959", Thinking: "5bf011840784117a", Pro: "9d8ca3786ebdfbea" };
  const PLACEHOLDER_RE = /https?:\/\/googleusercontent\.com\/image_generation_content\/\d+/g;

  // Small DOM builder: attrs may hold class, text, html, on<event> handlers and any attribute.
  function h(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "html") node.innerHTML = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of [].concat(children)) if (child) node.append(child);
    return node;
  }

  const ui = {
    editor: $("rich-textarea .ql-editor"),
    sendSlot: $(".send-button-container"),
    overlay: $(".cdk-overlay-container"),
    scroller: $("#chat-history infinite-scroller"),
    zero: $(".zero-state"),
    introChips: $(".intro-chips"),
    toolChips: $(".toolbox-drawer-chips"),
    previews: $(".file-preview-list"),
    uploaderHost: $("images-files-uploader"),
    modeButton: $('[data-test-id="bard-mode-menu-button"]'),
    toolsButton: $("toolbox-drawer .toolbox-drawer-button"),
    uploadButton: $("button.upload-card-button"),
    tempButton: $('button[aria-label="Temporary chat"]'),
    toasts: $(".toast-container"),
    convList: $(".conversation-list"),
  };

  const st = {
    imageTool: false,
    aspect: "1:1",
    mode: "Fast",
    temporary: false,
    attachments: [],
    generating: null,
    chat: CFG.chat || null, // [cid, rid, rcid] of the last finished turn
    reqid: 10000 + Math.floor(Math.random() * 89999),
    uploadAgreed: !!CFG.upload_agreed,
    menu: null,
    slotKind: null,
  };

  function sendEvent(type, detail = {}) {
    fetch(CFG.control + "/ui/event", {
      method: "POST", credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ type }, detail)),
    }).catch(() => {});
  }

  function toast(text, ms = 2500) {
    const node = h("div", { class: "toast", role: "status", text });
    ui.toasts.append(node);
    setTimeout(() => node.remove(), ms);
    return node;
  }

  function signInUrl() {
    return CFG.hosts.accounts + "/ServiceLogin?continue=" + encodeURIComponent(location.href);
  }

  // ---------------------------------------------------------------- composer

  function editorText() {
    return ui.editor.innerText.replace(/\u00a0/g, " ").trim();
  }

  function setEditorText(text) {
    ui.editor.textContent = "";
    const lines = text ? text.split("\n") : [""];
    for (const line of lines) ui.editor.append(h("p", {}, line ? document.createTextNode(line) : h("br")));
    refreshComposer();
  }

  function uploadsPending() {
    return st.attachments.some((a) => a.state === "uploading");
  }

  function canSend() {
    return !st.generating && !uploadsPending() &&
      (editorText().length > 0 || st.attachments.some((a) => a.state === "ready"));
  }

  // The send button exists only while there is something to send; during a generation
  // the same slot holds the stop button.
  function refreshComposer() {
    const blank = editorText().length === 0;
    ui.editor.classList.toggle("ql-blank", blank);
    ui.editor.setAttribute("data-placeholder", st.imageTool ? "Describe your image" : "Ask Gemini");
    let kind = "mic";
    if (st.generating) kind = "stop";
    else if (!blank || st.attachments.length) kind = uploadsPending() ? "send-disabled" : "send";
    if (kind === st.slotKind) return;
    st.slotKind = kind;
    ui.sendSlot.textContent = "";
    if (kind === "stop") {
      ui.sendSlot.append(h("button", {
        class: "mat-mdc-icon-button send-button stop", "aria-label": "Stop response", html: ICONS.stop,
        onclick: () => stopGeneration(),
      }));
    } else if (kind === "send" || kind === "send-disabled") {
      ui.sendSlot.append(h("button", {
        class: "mat-mdc-icon-button send-button submit", "aria-label": "Send message", html: ICONS.send,
        disabled: kind === "send-disabled", "aria-disabled": kind === "send-disabled" ? "true" : "false",
        onclick: () => submit(),
      }));
    } else {
      ui.sendSlot.append(h("button", {
        class: "mat-mdc-icon-button speech_dictation_mic_button", "aria-label": "Microphone", html: ICONS.mic,
        onclick: () => toast("Microphone is not available"),
      }));
    }
  }

  ui.editor.addEventListener("input", refreshComposer);
  ui.editor.addEventListener("compositionend", refreshComposer);
  ui.editor.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      if (canSend()) submit();
    }
  });
  ui.editor.addEventListener("paste", (ev) => {
    // keep the editor plain text, like Quill's clipboard module does for text
    const text = ev.clipboardData && ev.clipboardData.getData("text/plain");
    if (text) {
      ev.preventDefault();
      document.execCommand("insertText", false, text);
    }
  });

  // ---------------------------------------------------------------- overlays

  function closeMenus() {
    if (!st.menu) return;
    st.menu.backdrop.remove();
    st.menu.box.remove();
    st.menu.anchor.setAttribute("aria-expanded", "false");
    st.menu = null;
  }

  function openMenu(anchor, panelClass, items) {
    closeMenus();
    const backdrop = h("div", {
      class: "cdk-overlay-backdrop cdk-overlay-transparent-backdrop cdk-overlay-backdrop-showing",
      onclick: closeMenus,
    });
    const panel = h("div", { class: "mat-mdc-menu-panel " + panelClass, role: "menu", tabindex: "-1" },
      h("div", { class: "mat-mdc-menu-content" }, items));
    const rect = anchor.getBoundingClientRect();
    const pane = h("div", { class: "cdk-overlay-pane" }, panel);
    pane.style.left = Math.max(8, rect.left) + "px";
    pane.style.bottom = (window.innerHeight - rect.top + 6) + "px"; // the composer sits at the bottom
    const box = h("div", { class: "cdk-overlay-connected-position-bounding-box" }, pane);
    ui.overlay.append(backdrop, box);
    anchor.setAttribute("aria-expanded", "true");
    st.menu = { backdrop, box, anchor };
  }

  const dialogs = [];

  function showDialog({ kind, title, body, buttons, closeButton = true, onClose }) {
    const titleId = "dialog-title-" + Math.random().toString(16).slice(2);
    const backdrop = h("div", { class: "cdk-overlay-backdrop cdk-overlay-dark-backdrop cdk-overlay-backdrop-showing" });
    const entry = {};
    const close = (choice) => {
      backdrop.remove();
      wrapper.remove();
      dialogs.splice(dialogs.indexOf(entry), 1);
      sendEvent("overlay_dismissed", { overlay: kind, choice });
      if (onClose) onClose(choice);
    };
    const container = h("mat-dialog-container", {
      class: "mat-mdc-dialog-container mdc-dialog mdc-dialog--open", role: "dialog", "aria-modal": "true",
      "aria-labelledby": titleId, "data-overlay": kind,
    }, [
      closeButton ? h("button", { class: "dialog-close", "data-test-id": "close-button", "aria-label": "Close",
        html: ICONS.close, onclick: () => close("close") }) : null,
      h("h2", { id: titleId, class: "mat-mdc-dialog-title", text: title }),
      h("div", { class: "mat-mdc-dialog-content", text: body }),
      h("div", { class: "dialog-actions mat-mdc-dialog-actions" }, buttons.map((b) => h("button", {
        class: b.primary ? "primary" : null, "data-test-id": b.testId || null, text: b.label,
        onclick: () => close(b.choice || b.label),
      }))),
    ]);
    const wrapper = h("div", { class: "cdk-global-overlay-wrapper" }, h("div", { class: "cdk-overlay-pane" }, container));
    ui.overlay.append(backdrop, wrapper);
    Object.assign(entry, { close });
    dialogs.push(entry);
    return entry;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    if (st.menu) closeMenus();
    else if (dialogs.length) dialogs[dialogs.length - 1].close("escape");
  });

  const OVERLAYS = {
    first_visit: () => showDialog({
      kind: "first_visit", title: "Welcome to Gemini",
      body: "Gemini can make mistakes, so double-check it. Your chats are saved to your activity.",
      buttons: [{ label: "Got it", primary: true }], closeButton: false,
    }),
    promo: () => showDialog({
      kind: "promo", title: "Try the newest image model",
      body: "Create and edit images with more detail. Upgrade to get higher limits.",
      buttons: [{ label: "No, thanks" }, { label: "Try now", primary: true }],
    }),
  };

  // ---------------------------------------------------------------- tools, mode, temporary chat

  function setImageTool(on) {
    st.imageTool = on;
    ui.toolChips.textContent = "";
    if (on) {
      ui.toolChips.append(
        h("button", { class: "toolbox-drawer-item-deselect-button", "aria-label": "Deselect Image",
          onclick: () => setImageTool(false) }, [h("span", { html: ICONS.image }), h("span", { class: "label", text: "Image" }),
          h("span", { html: ICONS.close })]),
        h("button", { class: "aspect-ratio-button", "aria-label": "Aspect ratio", "aria-haspopup": "menu",
          "aria-expanded": "false", onclick: (ev) => openAspectMenu(ev.currentTarget) },
          h("span", { class: "aspect-ratio-label", text: st.aspect })),
      );
      ui.introChips.hidden = true;
    }
    // the image tool pins the model: the picker is disabled while it is on
    ui.modeButton.disabled = on;
    ui.modeButton.setAttribute("aria-disabled", on ? "true" : "false");
    st.slotKind = null;
    refreshComposer();
  }

  function openAspectMenu(anchor) {
    openMenu(anchor, "aspect-ratio-menu", CFG.aspect_ratios.map((r) => h("button", {
      class: "mat-mdc-menu-item", role: "menuitemradio", "aria-checked": r === st.aspect ? "true" : "false",
      onclick: () => { st.aspect = r; closeMenus(); setImageTool(true); },
    }, h("span", { class: "mat-mdc-menu-item-text", text: r }))));
  }

  ui.toolsButton.addEventListener("click", () => {
    const items = CFG.tools.map((name) => {
      const isImage = name === CFG.tool_label;
      const disabled = isImage && !CFG.signed_in;
      return h("toolbox-drawer-item", { class: "mat-mdc-tooltip-trigger" }, h("button", {
        class: "mat-mdc-list-item toolbox-drawer-item-list-button", role: "menuitemcheckbox",
        "aria-checked": isImage && st.imageTool ? "true" : "false", disabled, "aria-disabled": disabled ? "true" : "false",
        onclick: () => {
          closeMenus();
          if (isImage) setImageTool(!st.imageTool);
          else toast(name + " is not available in this fake");
        },
      }, [h("span", { class: "toolbox-drawer-item-icon", html: ICONS.image }),
        h("div", { class: "toolbox-drawer-item-label gds-label-l", text: name })]));
    });
    openMenu(ui.toolsButton, "toolbox-drawer-menu", items);
  });

  ui.modeButton.addEventListener("click", () => {
    if (ui.modeButton.disabled) return;
    openMenu(ui.modeButton, "bard-mode-menu", ["Fast", "Thinking", "Pro"].map((mode) => h("button", {
      class: "mat-mdc-menu-item bard-mode-list-button", role: "menuitemradio",
      "aria-checked": mode === st.mode ? "true" : "false", "data-mode": mode,
      onclick: () => { st.mode = mode; $(".mode-label", ui.modeButton).textContent = mode; closeMenus(); },
    }, h("span", { class: "mat-mdc-menu-item-text", text: mode }))));
  });

  ui.tempButton.addEventListener("click", () => {
    st.temporary = !st.temporary;
    ui.tempButton.setAttribute("aria-pressed", st.temporary ? "true" : "false");
    document.body.classList.toggle("temporary-chat", st.temporary);
  });

  $$(".intro-chips .chip").forEach((chip) => chip.addEventListener("click", () => {
    if (chip.dataset.chip === "image") setImageTool(true);
    else setEditorText(chip.textContent.trim() + ": ");
  }));

  // ---------------------------------------------------------------- uploads

  ui.uploadButton.addEventListener("click", () => {
    const item = (label, onclick) => h("button", { class: "mat-mdc-menu-item", role: "menuitem", onclick },
      h("span", { class: "mat-mdc-menu-item-text", text: label }));
    openMenu(ui.uploadButton, "upload-file-menu", [
      item("Upload files", () => { closeMenus(); startFileChooser(); }),
      item("Add from Drive", () => { closeMenus(); toast("Drive is not available in this fake"); }),
      item("Photos", () => { closeMenus(); toast("Photos is not available in this fake"); }),
    ]);
  });

  function startFileChooser() {
    if (CFG.overlays.includes("upload_agree") && !st.uploadAgreed) {
      showDialog({
        kind: "upload_agree", title: "Upload images to Gemini",
        body: "Only upload images you have the right to use. Images are processed to improve the service.",
        buttons: [{ label: "Cancel" }, { label: "Agree", primary: true, testId: "upload-image-agree-button", choice: "agree" }],
        onClose: (choice) => {
          if (choice !== "agree") return;
          st.uploadAgreed = true;
          openTransientInput();
        },
      });
      return;
    }
    openTransientInput();
  }

  // The real app has no persistent file input: one is created for each chooser.
  function openTransientInput() {
    ui.uploaderHost.textContent = "";
    const input = h("input", { type: "file", name: "Filedata", multiple: true,
      accept: "image/*,application/pdf,text/plain" });
    input.addEventListener("change", () => {
      const files = Array.from(input.files || []);
      input.remove();
      files.forEach(uploadFile);
    });
    input.addEventListener("cancel", () => input.remove());
    ui.uploaderHost.append(input);
    input.click();
  }

  async function uploadFile(file) {
    const att = { name: file.name, type: file.type, size: file.size, ref: null, state: "uploading",
      url: URL.createObjectURL(file) };
    st.attachments.push(att);
    renderPreviews();
    refreshComposer();
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const resp = await fetch(CFG.hosts.push + "/upload", {
        method: "POST", body: form, credentials: "include",
        headers: { "Push-ID": WIZ.qKIAYe || "feeds/mcudyrk2a4khkz", "X-Tenant-Id": "bard-storage" },
      });
      if (!resp.ok) throw new Error("upload failed: " + resp.status);
      att.ref = (await resp.text()).trim().replace(/^"|"$/g, "");
      att.state = "ready";
    } catch (err) {
      st.attachments.splice(st.attachments.indexOf(att), 1);
      toast("Couldn't upload " + file.name);
    }
    renderPreviews();
    st.slotKind = null;
    refreshComposer();
  }

  function renderPreviews() {
    ui.previews.textContent = "";
    for (const att of st.attachments) {
      const isImage = (att.type || "").startsWith("image/");
      ui.previews.append(h("uploader-file-preview", {
        class: "file-preview-chip" + (att.state === "uploading" ? " uploading" : ""), "data-file-name": att.name,
      }, [
        h("div", { class: "image-preview" }, isImage
          ? h("img", { class: "preview-image", "data-test-id": "image-preview", alt: "Image preview", src: att.url })
          : h("span", { class: "file-icon", text: "File" })),
        h("span", { class: "file-name", text: att.name }),
        att.state === "uploading" ? h("mat-progress-spinner", { role: "progressbar", "aria-label": "Uploading" }) : null,
        h("button", { class: "cancel-button", "aria-label": "Remove file", "data-test-id": "cancel-button", html: ICONS.close,
          onclick: () => { st.attachments.splice(st.attachments.indexOf(att), 1); renderPreviews(); st.slotKind = null; refreshComposer(); } }),
      ]));
    }
  }

  // ---------------------------------------------------------------- conversation rendering

  function showZeroState(show) {
    ui.zero.hidden = !show;
  }

  function addTurn(prompt, attachments) {
    const previews = attachments.filter((a) => (a.type || "").startsWith("image/")).map((a) =>
      h("div", { class: "query-file-preview" }, h("img", { src: a.url, alt: "Uploaded image preview" })));
    const userQuery = h("user-query", {}, h("div", { class: "user-query-container" },
      h("user-query-content", {}, h("div", { class: "query-content" }, [
        previews.length ? h("div", { class: "file-preview-container" }, previews) : null,
        h("div", { class: "query-text", role: "heading", "aria-level": "2" }, h("p", { class: "query-text-line", text: prompt })),
      ]))));
    const avatar = h("bard-avatar", { class: "avatar-gutter" }, h("div", { class: "bard-avatar thinking" }));
    const content = h("div", { class: "response-container-content" });
    const modelResponse = h("model-response", {}, h("div", { class: "response-container" },
      h("div", { class: "presented-response-container" }, [avatar, content])));
    const container = h("div", { class: "conversation-container" }, [userQuery, modelResponse]);
    ui.scroller.append(container);
    container.scrollIntoView({ block: "end" });
    return { container, modelResponse, content, avatar };
  }

  function showLoading(turn) {
    const model = st.mode === "Pro" ? "Nano Banana Pro" : "Nano Banana";
    turn.content.append(h("div", { class: "loading-indicator" }, [
      h("mat-progress-bar", { class: "mat-mdc-progress-bar mdc-linear-progress", role: "progressbar",
        mode: "indeterminate", "aria-label": "Loading" }),
      st.generating && st.generating.imageTool ? h("span", { class: "loading-text", text: "Loading " + model + "…" }) : null,
    ]));
  }

  function clearLoading(turn) {
    $$(".loading-indicator", turn.content).forEach((n) => n.remove());
    $(".bard-avatar", turn.avatar).classList.remove("thinking");
  }

  function textBlock(text) {
    return text.split(/\n{2,}/).filter((p) => p.trim()).map((p) => h("p", { text: p.trim() }));
  }

  function messageContent(turn, rid) {
    const markdown = h("div", { class: "markdown markdown-main-panel", dir: "ltr" });
    const node = h("message-content", { class: "model-response-text", id: "message-content-id-" + rid }, markdown);
    turn.content.append(node);
    return markdown;
  }

  function renderImages(markdown, images, meta, ui_) {
    const att = h("div", { class: "attachment-container generated-images" });
    for (const img of images) {
      const tag = h("img", { class: "image animate", alt: ", AI generated" });
      tag.addEventListener("load", () => tag.classList.add("loaded"));
      if (ui_.blob_src) {
        // the real app has shown revoked blob: URLs; the driver then cannot read the src
        fetch(img.url + CFG.display_suffix, { mode: "same-origin", credentials: "include" })
          .then((r) => r.blob())
          .then((b) => {
            const u = URL.createObjectURL(b);
            tag.addEventListener("load", () => URL.revokeObjectURL(u), { once: true });
            tag.src = u;
          }).catch(() => {});
      } else {
        tag.src = img.url + CFG.display_suffix;
      }
      const controls = h("div", { class: "generated-image-controls" }, [
        h("share-button", {}, h("button", { class: "on-hover-button", "aria-label": "Share image", html: ICONS.share,
          onclick: () => toast("Sharing is not available in this fake") })),
        h("copy-button", {}, h("button", { class: "on-hover-button", "aria-label": "Copy image", html: ICONS.copy,
          onclick: () => toast("Image copied") })),
        ui_.no_download ? null : h("download-generated-image-button", {}, h("button", {
          class: "mat-mdc-icon-button on-hover-button", "data-test-id": "download-generated-image-button",
          "aria-label": "Download full size image", html: ICONS.download,
          onclick: () => downloadFullSize(img, meta, !!ui_.download_noop),
        })),
      ]);
      att.append(h("response-element", {}, h("generated-image", {}, h("single-image", { class: "generated-image large" },
        h("div", { class: "image-container" }, [h("button", { class: "image-button" }, tag), controls])))));
    }
    markdown.append(att);
  }

  function renderActions(turn) {
    const btn = (label, icon) => h("button", { class: "mat-mdc-icon-button", "aria-label": label, html: icon,
      onclick: () => toast("Thanks for the feedback") });
    turn.modelResponse.append(h("message-actions", {}, h("div", { class: "actions-container-v2" }, [
      btn("Good response", ICONS.up), btn("Bad response", ICONS.down), btn("Show more options", ICONS.more),
    ])));
  }

  function renderAnswer(turn, answer, finished) {
    clearLoading(turn);
    const markdown = messageContent(turn, answer.rid || "r_pending");
    const images = answer.images || [];
    let text = answer.text || "";
    if (images.length) text = text.replace(PLACEHOLDER_RE, "").trim();
    textBlock(text).forEach((p) => markdown.append(p));
    if (images.length) renderImages(markdown, images, answer, answer.ui || {});
    if (finished) renderActions(turn);
  }

  function renderError(turn, text) {
    clearLoading(turn);
    messageContent(turn, "r_error").append(h("p", { class: "error-message response-error", text }));
  }

  // Past turns of a conversation opened by URL.
  for (const past of CFG.conversation || []) {
    const turn = addTurn(past.prompt, []);
    renderAnswer(turn, past, true);
  }
  showZeroState(!(CFG.conversation || []).length);

  for (const conv of CFG.recent || []) {
    ui.convList.append(h("div", { class: "conversation-item", role: "listitem" }, [
      h("a", { href: CFG.app_prefix + "/app/" + conv.id, class: "conversation", text: conv.title }),
      h("button", { class: "conversation-actions-menu-button", "aria-label": "More options for " + conv.title,
        html: ICONS.more }),
    ]));
  }

  // ---------------------------------------------------------------- StreamGenerate

  // Frames are "<length>\n<json>\n" with the length in UTF-16 units, which is what
  // JavaScript string lengths count.
  function takeFrames(state) {
    const out = [];
    if (!state.guardDone) {
      if (state.buf.length < 5) return out;
      if (state.buf.startsWith(")]}'")) state.buf = state.buf.slice(4);
      state.guardDone = true;
    }
    for (;;) {
      const m = /^\s*(\d+)/.exec(state.buf);
      if (!m) break;
      const start = m[0].length;
      const len = parseInt(m[1], 10);
      if (state.buf.length < start + len) break;
      const chunk = state.buf.slice(start, start + len);
      state.buf = state.buf.slice(start + len);
      try { out.push(JSON.parse(chunk)); } catch (e) { /* ignore a malformed frame */ }
    }
    return out;
  }

  function readCandidate(cand) {
    const images = [];
    const block = cand[12];
    let nodes = null;
    if (Array.isArray(block)) {
      if (block[7] && Array.isArray(block[7][0])) nodes = block[7][0];
      else if (block[0] && typeof block[0] === "object" && block[0]["8"]) nodes = block[0]["8"][0];
    }
    for (const node of nodes || []) {
      try { images.push({ url: node[0][3][3], name: node[0][3][2], id: node[1][0] }); } catch (e) { /* skip */ }
    }
    return { rcid: cand[0], text: (cand[1] && cand[1][0]) || "", done: !!(cand[8] && cand[8][0] === 2), images };
  }

  function applyEnvelope(env, result) {
    if (env[0] === "fake.jump_back") { result.jumpBack = true; return; }
    if (env[0] === "fake.ui") { result.ui = env[1] || {}; return; }
    if (env[0] !== "wrb.fr") return;
    if (typeof env[2] === "string") {
      const inner = JSON.parse(env[2]);
      if (inner[1]) {
        result.cid = inner[1][0];
        result.rid = inner[1][1];
        onConversation(result.cid);
      }
      if (inner[4] && inner[4][0]) Object.assign(result, readCandidate(inner[4][0]));
      if (typeof inner[25] === "string") result.final = true;
    } else if (Array.isArray(env[5])) {
      const status = env[5];
      let code = null;
      try { code = status[2][0][1][0]; } catch (e) { code = status[0]; }
      result.errorCode = code;
    }
  }

  function onConversation(cid) {
    if (!cid) return;
    const hex = cid.replace(/^c_/, "");
    const path = CFG.app_prefix + "/app/" + hex;
    if (location.pathname !== path) history.pushState({}, "", path + location.search);
  }

  async function readStream(resp, result) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const parse = { buf: "", guardDone: false };
    for (;;) {
      const { value, done } = await reader.read();
      if (value) parse.buf += decoder.decode(value, { stream: true });
      for (const envelopes of takeFrames(parse)) for (const env of envelopes) applyEnvelope(env, result);
      if (done) break;
    }
    return result;
  }

  function buildInner(prompt, attachments) {
    const inner = new Array(69).fill(null);
    const files = attachments.map((a) => [[a.ref], a.name]);
    inner[0] = [prompt, 0, null, files.length ? files : null, null, null, 0];
    inner[1] = [CFG.hl];
    inner[2] = st.chat ? [st.chat[0], st.chat[1], st.chat[2], null, null, null, null, null, null, ""]
      : ["", "", "", null, null, null, null, null, null, ""];
    inner[6] = [1];
    inner[7] = 1;
    inner[10] = 1;
    inner[11] = 0;
    inner[17] = [[0]];
    inner[18] = 0;
    inner[27] = 1;
    inner[30] = [4];
    inner[41] = [1];
    if (st.temporary) inner[45] = 1;
    inner[49] = { image_tool: st.imageTool, aspect_ratio: st.aspect }; // fake-only slot
    inner[53] = 0;
    inner[59] = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now())).toUpperCase();
    inner[61] = [];
    inner[68] = 2;
    return inner;
  }

  function finishIdle() {
    st.generating = null;
    st.slotKind = null;
    refreshComposer();
  }

  async function submit() {
    if (!canSend()) return;
    closeMenus();
    const prompt = editorText();
    const attachments = st.attachments.filter((a) => a.state === "ready");
    st.attachments = [];
    renderPreviews();
    ui.editor.textContent = "";
    ui.editor.append(h("p", {}, h("br")));
    showZeroState(false);
    const ctrl = new AbortController();
    const turn = addTurn(prompt, attachments);
    st.generating = { ctrl, turn, prompt, imageTool: st.imageTool, stopped: false };
    st.slotKind = null;
    refreshComposer();
    showLoading(turn);

    const body = new URLSearchParams({
      "f.req": JSON.stringify([null, JSON.stringify(buildInner(prompt, attachments))]),
      at: WIZ.SNlM0e || "",
    });
    const query = new URLSearchParams({ bl: WIZ.cfb2h || "", "f.sid": WIZ.FdrFJe || "", hl: CFG.hl,
      _reqid: String(st.reqid), rt: "c" });
    st.reqid += 100000;
    const result = {};
    try {
      const resp = await fetch(CFG.app_prefix + "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate?" + query, {
        method: "POST", body, signal: ctrl.signal, credentials: "include",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
          "X-Same-Domain": "1",
          "x-goog-ext-525001261-jspb": JSON.stringify([1, null, null, null, MODEL_IDS[st.mode], null, null, 0, [4]]),
        },
      });
      if (resp.redirected && /\/sorry\/|ServiceLogin|consent\.google\.com/.test(resp.url)) {
        location.href = resp.url;
        return;
      }
      if (resp.status === 401) {
        location.href = signInUrl();
        return;
      }
      if (!resp.ok) {
        renderError(turn, "Something went wrong (" + resp.status + "). Try again later.");
        finishIdle();
        return;
      }
      await readStream(resp, result);
    } catch (err) {
      if (st.generating && st.generating.stopped) {
        clearLoading(turn);
        messageContent(turn, "r_stopped").append(h("p", { class: "stopped-response", text: "You stopped this response" }));
      } else {
        renderError(turn, "Something went wrong. Check your connection and try again.");
      }
      finishIdle();
      return;
    }

    if (result.jumpBack) {
      // the page quietly gives up: the turn disappears and the prompt goes back into the box
      turn.container.remove();
      setImageTool(false);
      st.generating = null;
      setEditorText(prompt);
      st.slotKind = null;
      refreshComposer();
      showZeroState(!$(".conversation-container"));
      return;
    }
    if (result.errorCode !== undefined && result.errorCode !== null) {
      renderError(turn, "Something went wrong (" + result.errorCode + "). Try again later.");
      finishIdle();
      return;
    }
    if (result.cid && result.final) st.chat = [result.cid, result.rid, result.rcid];
    const uiFlags = result.ui || {};
    result.ui = uiFlags;
    if (result.final && result.done) {
      renderAnswer(turn, result, false);
      const lag = Math.max(0, (uiFlags.finish_lag || 0) * 1000);
      setTimeout(() => {
        renderActions(turn);
        finishIdle();
        if (uiFlags.overlay) OVERLAYS.promo();
      }, lag);
    } else {
      // stream ended without the completion marker
      renderAnswer(turn, { rid: result.rid, text: result.text || "", images: [] }, false);
      finishIdle();
    }
  }

  function stopGeneration() {
    if (!st.generating) return;
    st.generating.stopped = true;
    st.generating.ctrl.abort();
  }

  // ---------------------------------------------------------------- full-size download

  async function downloadFullSize(image, meta, noop) {
    toast("Downloading full size…");
    sendEvent("download_clicked", { image_id: image.id });
    // ask for the original's URL first, as the real app does (RPC c8o8Fe)
    const payload = [[[null, null, null, [null, null, null, null, null, ""]], [image.id, 0], null, [19, ""],
      null, null, null, null, null, ""], [meta.rid, meta.rcid, meta.cid, null, ""], 1, 0, 1];
    const body = new URLSearchParams({
      "f.req": JSON.stringify([[["c8o8Fe", JSON.stringify(payload), null, "generic"]]]),
      at: WIZ.SNlM0e || "",
    });
    let url = null;
    try {
      const resp = await fetch(CFG.app_prefix + "/_/BardChatUi/data/batchexecute?rpcids=c8o8Fe&source-path=" +
        encodeURIComponent(location.pathname) + "&rt=c", {
        method: "POST", body, credentials: "include",
        headers: { "Content-Type": "application/x-www-form-urlencoded;charset=utf-8", "X-Same-Domain": "1" },
      });
      const parse = { buf: await resp.text(), guardDone: false };
      for (const envelopes of takeFrames(parse)) for (const env of envelopes) {
        if (env[0] === "wrb.fr" && env[1] === "c8o8Fe" && typeof env[2] === "string") url = JSON.parse(env[2])[0];
      }
    } catch (err) { url = null; }
    if (noop) return; // the toast shows, but no download ever starts
    if (!url) { toast("Couldn't download the image"); return; }
    const link = h("a", { href: url + "=d", class: "hidden-download-link" });
    link.style.display = "none";
    document.body.append(link);
    link.click();
    link.remove();
  }

  // ---------------------------------------------------------------- start-up

  refreshComposer();
  window.addEventListener("popstate", () => location.reload());
  if (CFG.overlays_on_load.length) {
    // Angular paints first and opens promos a moment later
    setTimeout(() => {
      for (const name of CFG.overlays_on_load) if (OVERLAYS[name]) OVERLAYS[name]();
    }, CFG.overlay_delay_ms);
  }
  window.__fakeGemini = { config: CFG, state: st };
})();
