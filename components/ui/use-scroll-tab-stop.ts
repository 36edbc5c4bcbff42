"use client";
// A box that scrolls is a Tab stop, so that the keyboard can scroll it (WCAG 2.1.1); a box that fits is not, so that
// Tab reaches the controls sooner.
import { useEffect, useState } from "react";

const overflows = (el: HTMLElement) => el.scrollHeight > el.clientHeight || el.scrollWidth > el.clientWidth;

/**
 * `[ref, tabIndex]`: the ref goes on the scrolling box, the tabIndex on the box itself or on the one named element in it
 * (a table) from which the keyboard scrolls it. Checked whenever the box or an element directly in it changes size, so
 * what the box holds must be elements that stay (a list, a table, a code element) while their content changes.
 */
export function useScrollTabStop<T extends HTMLElement>(): [(el: T | null) => void, 0 | undefined] {
  const [box, setBox] = useState<T | null>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    if (!box) return;
    // Called once at the start, then on every change of size.
    const observer = new ResizeObserver(() => setScrolls(overflows(box)));
    observer.observe(box);
    for (const child of box.children) observer.observe(child);
    return () => observer.disconnect();
  }, [box]);
  return [setBox, scrolls ? 0 : undefined];
}
