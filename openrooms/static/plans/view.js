// The members' plan view: every desk and room as free, busy or yours for the chosen date and
// time, refreshed without reloading the page; click a free one to book it.
import {
  KIND_NAME, element, fitCanvas, getJSON, makeIcon, nameIcon, placePopover, postJSON,
  seatCount,
} from "./common.js";

const STATE_TEXT = { free: "free", busy: "busy", yours: "booked by you", off: "not bookable" };

const canvas = document.getElementById("plan-view");
if (canvas) start(canvas);

function start(canvas) {
  const form = document.getElementById("plan-filters");
  const statusLine = document.getElementById("plan-status");
  const popover = document.getElementById("plan-booking");
  const csrf = canvas.dataset.csrf;
  const spaces = new Map(
    JSON.parse(document.getElementById("plan-spaces").textContent).map((s) => [s.id, s]),
  );
  const icons = new Map();
  const status = new Map(); // space id -> {state, bookings}
  let openId = null;
  let refreshing = null;

  fitCanvas(canvas, canvas.dataset.width, canvas.dataset.height);

  const say = (text, isError = false) => {
    statusLine.textContent = text;
    statusLine.classList.toggle("is-error", isError);
  };
  const field = (name) => form.elements.namedItem(name);
  const range = () => ({
    date: field("date").value,
    start: field("start").value,
    end: field("end").value,
  });

  for (const space of spaces.values()) {
    const icon = makeIcon(space);
    icon.dataset.state = "loading";
    icon.addEventListener("click", (event) => {
      event.stopPropagation();
      openPopover(space.id);
    });
    canvas.append(icon);
    icons.set(space.id, icon);
  }

  // Free, busy or yours for the chosen time

  async function refresh() {
    const { date, start, end } = range();
    if (!date || !start || !end) return;
    const query = new URLSearchParams({ date, start, end });
    const url = new URL(window.location.href);
    for (const [name, value] of query) url.searchParams.set(name, value);
    for (const name of ["office", "floor"]) url.searchParams.set(name, field(name).value);
    window.history.replaceState(null, "", url);
    const asked = query.toString();
    refreshing = asked;
    try {
      const data = await getJSON(`${canvas.dataset.statusUrl}?${asked}`);
      if (refreshing !== asked) return; // a later change already asked again
      status.clear();
      for (const row of data.spaces) status.set(row.id, row);
      for (const [id, icon] of icons) {
        const state = status.get(id)?.state ?? "off";
        icon.dataset.state = state;
        nameIcon(icon, spaces.get(id), STATE_TEXT[state]);
      }
      canvas.dataset.ready = asked;
      if (statusLine.classList.contains("is-error")) say("");
      if (openId !== null) openPopover(openId);
    } catch (error) {
      say(error.message, true);
    }
  }

  // Moving the start keeps the length of the range, so the end never comes before it.
  const minutes = (time) => {
    const [hours, mins] = time.split(":").map(Number);
    return hours * 60 + mins;
  };
  const clock = (total) => {
    const capped = Math.min(total, 23 * 60 + 59);
    return `${String(Math.floor(capped / 60)).padStart(2, "0")}:${String(capped % 60).padStart(2, "0")}`;
  };
  let length = Math.max(15, minutes(field("end").value) - minutes(field("start").value)) || 60;
  field("start").addEventListener("change", () => {
    if (!field("start").value) return;
    field("end").value = clock(minutes(field("start").value) + length);
    refresh();
  });
  field("end").addEventListener("change", () => {
    const span = minutes(field("end").value) - minutes(field("start").value);
    if (span > 0) length = span;
    refresh();
  });
  field("date").addEventListener("change", refresh);
  for (const select of form.querySelectorAll("[data-reload]")) {
    select.addEventListener("change", () => {
      if (select.name === "office") field("floor").disabled = true; // another office's floors
      form.submit(); // another office or floor is another page
    });
  }

  // Filters dim what does not fit; nothing is hidden, so the plan keeps its bearings.

  function applyFilters() {
    const seats = Number(field("capacity").value) || 0;
    const amenity = field("amenity").value;
    for (const [id, icon] of icons) {
      const space = spaces.get(id);
      const fits = space.capacity >= seats && (!amenity || space.amenities.includes(amenity));
      icon.classList.toggle("is-dimmed", !fits);
    }
  }
  field("capacity").addEventListener("input", applyFilters);
  field("amenity").addEventListener("change", applyFilters);
  form.addEventListener("submit", (event) => {
    // Enter in a date or time field refreshes the plan in place.
    event.preventDefault();
    refresh();
  });

  // The popover: book a free space, or see who has a busy one.

  function closePopover() {
    popover.hidden = true;
    openId = null;
    for (const icon of icons.values()) icon.classList.remove("is-selected");
  }

  function openPopover(id) {
    const space = spaces.get(id);
    const row = status.get(id);
    openId = id;
    for (const [iconId, icon] of icons) icon.classList.toggle("is-selected", iconId === id);
    const { start, end } = range();
    const close = element("button", {
      type: "button", className: "plan-popover__close", "aria-label": "Close", text: "×",
    });
    close.addEventListener("click", closePopover);
    const details = [KIND_NAME[space.kind]];
    if (space.kind === "room") details.push(seatCount(space.capacity));
    if (space.amenities.length) details.push(space.amenities.join(", "));
    const parts = [
      element("div", { className: "plan-popover__head" },
        element("strong", { text: space.name }), close),
      element("p", { className: "plan-popover__meta", text: details.join(" · ") }),
    ];
    const state = row?.state ?? "off";
    if (state === "free") parts.push(bookingForm(space, start, end));
    else if (state === "off") parts.push(element("p", { text: "This space cannot be booked." }));
    else {
      parts.push(element("p", {
        className: "plan-popover__state",
        text: state === "yours" ? `Booked by you, ${start}–${end}.` : `Busy ${start}–${end}.`,
      }));
    }
    if (row && row.bookings.length) {
      const list = element("ul", { className: "plan-bookings", "aria-label": "Bookings that day" });
      for (const booking of row.bookings) {
        const text = `${booking.start}–${booking.end} · ${booking.who}`
          + (booking.title ? ` · ${booking.title}` : "");
        list.append(element("li", { className: booking.now ? "is-now" : "", text }));
      }
      parts.push(element("p", { className: "plan-kicker", text: "That day" }), list);
    }
    popover.replaceChildren(...parts);
    placePopover(popover, space.x, space.y);
    popover.hidden = false;
    popover.querySelector("input:not([type=radio]), button[type=submit]")
      ?.focus({ preventScroll: true });
  }

  function bookingForm(space, start, end) {
    const bookForm = element("form", { className: "plan-book" });
    const error = element("p", { className: "plan-error", role: "alert" });
    if (space.kind === "desk") {
      const workday = canvas.dataset.workday;
      bookForm.append(
        element("fieldset", {},
          element("legend", { text: "Book" }),
          element("label", {},
            element("input", { type: "radio", name: "span", value: "day", checked: true }),
            ` the whole day (${workday})`),
          element("label", {},
            element("input", { type: "radio", name: "span", value: "range" }),
            ` ${start}–${end}`)),
      );
    } else {
      bookForm.append(
        element("p", { text: `Book ${start}–${end}` }),
        element("label", { for: "plan-book-title", text: "Title" }),
        element("input", {
          id: "plan-book-title", name: "title", maxlength: "255", placeholder: "Team meeting",
          autocomplete: "off",
        }),
      );
    }
    bookForm.append(error, element("div", { className: "plan-popover__actions" },
      element("button", {
        type: "submit", className: "plan-button plan-button--primary",
        text: `Book ${space.kind === "desk" ? "desk" : "room"}`,
      })));
    bookForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(bookForm);
      try {
        const booked = await postJSON(canvas.dataset.bookUrl, {
          space: space.id,
          ...range(),
          whole_day: data.get("span") === "day",
          title: data.get("title") || "",
        }, csrf);
        closePopover();
        say(booked.message);
        await refresh();
        icons.get(space.id).focus({ preventScroll: true });
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    return bookForm;
  }

  canvas.addEventListener("click", (event) => {
    if (!popover.contains(event.target)) closePopover();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !popover.hidden) closePopover();
  });

  applyFilters();
  refresh();
}
