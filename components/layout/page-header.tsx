"use client";
// Every page's header: its title, the way to the other pages, who is signed in, the connection indicator,
// and the banner for what stops the page from being live.
import Link from "next/link";
import type { ReactNode } from "react";
import { Account } from "@/components/auth/account";
import { StatusBanner } from "@/components/dashboard/status-banner";
import { useHealth } from "@/components/live/use-health";

export type PageName = "dashboard" | "tasks" | "schedules" | "insights" | "audit";

const PAGES: ReadonlyArray<{ name: PageName; href: string; label: string }> = [
  { name: "dashboard", href: "/", label: "Dashboard" },
  { name: "tasks", href: "/tasks", label: "All tasks" },
  { name: "schedules", href: "/schedules", label: "Schedules" },
  { name: "insights", href: "/insights", label: "Insights" },
  { name: "audit", href: "/audit", label: "Audit log" },
];

export function PageHeader({ title, current, connected, epoch, children }: { title: string; current: PageName; connected: boolean; epoch: number; children?: ReactNode }) {
  const health = useHealth(epoch);
  return (
    <>
      <header className="topbar">
        <h1>{title}</h1>
        <nav className="page-nav" aria-label="Pages">
          {PAGES.map((p) => (
            <Link key={p.name} href={p.href} aria-current={p.name === current ? "page" : undefined}>
              {p.label}
            </Link>
          ))}
        </nav>
        {children}
        <span className={`indicator ${connected ? "live" : "down"}`} role="status" aria-label="Connection">
          {connected ? "Live" : "Reconnecting…"}
        </span>
        <Account />
      </header>
      <StatusBanner connected={connected} health={health} />
    </>
  );
}
