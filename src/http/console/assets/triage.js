// Which orders come first and which are shown: urgency (severity, then
// the time left to the order's next limit, the overdue first), the
// filters, the search box and the "mine" / "unaccepted" views. Pure
// functions of orders and the time, so the list, the map and the alarms
// agree on what is urgent.

import { name } from "./i18n.js";

export const SEVERITY_RANK = { critical: 4, major: 3, moderate: 2, minor: 1 };

// Stages of the disposal loop with nothing left for the street to do.
const DONE_STAGES = new Set(["resolved", "verified", "closed"]);

// Done: acknowledged (the one-step ORDER_ACK), or past the street's part
// of the disposal loop.
export function isDone(o) {
  return o.status === "acked" || DONE_STAGES.has(o.stage);
}

// Whether the order carries its place in the disposal loop (`stage`);
// orders written before the loop existed do not.
export function hasStage(o) {
  return typeof o.stage === "string";
}

// Whether someone accepted it (签收 or any later stage), or acknowledged
// it at once.
export function isAccepted(o) {
  return (hasStage(o) && o.stage !== "dispatched") || !!o.accepted_by || !!o.ack;
}

// The person the order is with: its assignee (处置人), else whoever
// accepted it (签收人).
export function personOf(o) {
  return o.assignee || o.accepted_by || null;
}

// The next time limit the order runs against: the hub's own figure when
// it sends one (accept, then resolve), else the accept limit while no one
// accepted it, else the deadline.
export function nextLimit(o) {
  if (typeof o.next_limit_ms === "number") return o.next_limit_ms;
  if (!isAccepted(o) && typeof o.accept_by_ms === "number") return o.accept_by_ms;
  return o.resolve_by_ms ?? o.deadline_ms;
}

// Most urgent first: open before done; then severity; then the least
// time left (the most overdue first); then the oldest; then the id, so
// the order is total and the list does not shuffle between renders.
export function byUrgency(a, b) {
  return (isDone(a) - isDone(b))
    || (isDone(a) && isDone(b) && b.created_ms - a.created_ms)
    || SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
    || nextLimit(a) - nextLimit(b)
    || a.created_ms - b.created_ms
    || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// The words an order is found by: its id, its place (street name, code,
// cell), its devices and cameras, its category and incident (codes and
// names), its plan and the events' reports.
function haystack(o) {
  if (o._haystack) return o._haystack;
  const street = o.place.street;
  const words = [
    o.id, o.escalation_of, street && street.name, street && street.name_en, street && street.code,
    o.place.cell, o.category, name("category", o.category), o.incident_kind, name("incident", o.incident_kind),
    o.camera, o.plan, o.accepted_by, o.assignee,
    ...(o.events || []).flatMap((e) => [String(e.device), e.camera, e.report]),
  ];
  // Cached on the order: an order changes only by being replaced.
  Object.defineProperty(o, "_haystack", { value: words.filter(Boolean).join("\n").toLowerCase() });
  return o._haystack;
}

// A number typed is a device id or a code: it matches the start of a
// number in the order, never the middle of a hexadecimal order id or cell
// (device 7500 must not find an order whose id happens to hold "7500").
// Any other term matches anywhere, so part of a street's name finds it.
export function matches(o, query) {
  const terms = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return terms.every((term) => (/^\d+$/.test(term) ? numbers(o).some((n) => n.startsWith(term)) : haystack(o).includes(term)));
}

// The order's words that are all digits (device ids, street codes).
function numbers(o) {
  if (o._numbers) return o._numbers;
  Object.defineProperty(o, "_numbers", { value: haystack(o).split(/[^0-9a-z]+/).filter((w) => /^\d+$/.test(w)) });
  return o._numbers;
}

// What the orders in view can tell: whether any records a person, and
// whether any carries a stage of the disposal loop. Until they do, "mine"
// and "unaccepted" fall back to what the orders have, and say so.
export function knowledge(orders) {
  const known = { people: false, stages: false };
  for (const o of orders) {
    known.people ||= !!personOf(o);
    known.stages ||= hasStage(o);
    if (known.people && known.stages) break;
  }
  return known;
}

// Whether the person on the order is the viewer: the hub writes a person
// as "张三（310107005000）", a name and the scope.
function isViewer(person, viewer) {
  return !!person && !!viewer && (person === viewer.name || person.startsWith(`${viewer.name}（`) || person.startsWith(`${viewer.name} (`));
}

// The "mine" view: orders with the viewer's name on them; without names
// on any order, a street's own orders (all it sees) or, for the district,
// the escalations addressed to its desk.
export function isMine(o, viewer, known) {
  if (known.people) return isViewer(o.assignee, viewer) || isViewer(o.accepted_by, viewer);
  return viewer && viewer.scopeCode === "district" ? !!o.escalation_of : true;
}

// What the filter controls ask for; `filters` holds their values.
export function visible(o, filters, viewer, known) {
  if (filters.severity && o.severity !== filters.severity) return false;
  if (filters.status && o.status !== filters.status && o.stage !== filters.status) return false;
  if (filters.category && o.category !== filters.category) return false;
  if (filters.view === "mine" && !isMine(o, viewer, known)) return false;
  if (filters.view === "unaccepted" && (isAccepted(o) || isDone(o))) return false;
  return !filters.query || matches(o, filters.query);
}
