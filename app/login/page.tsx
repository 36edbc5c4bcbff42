import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import { LoginForm } from "@/components/auth/login-form";
import { readSession } from "@/components/auth/read-session";
import { safeNextPath } from "@/lib/sign-in";

export const metadata: Metadata = { title: "Sign in · Taskcast" };

// Depends on the request's session, so it is never prerendered.
export const dynamic = "force-dynamic";

type Search = Record<string, string | string[] | undefined>;

export default async function LoginPage({ searchParams }: { searchParams: Promise<Search> }) {
  const raw = (await searchParams).next;
  const next = safeNextPath(Array.isArray(raw) ? raw[0] : raw);
  const session = await readSession();
  // Already signed in (a second tab, or the back button): straight on.
  if (session.authRequired && session.principal) redirect(next);
  return (
    <main className="login-main">
      <section className="card login-card" aria-labelledby="login-heading">
        <h1 id="login-heading">Sign in to Taskcast</h1>
        {session.authRequired ? (
          <LoginForm next={next} />
        ) : (
          <>
            <p>No users are configured, so this Taskcast needs no sign-in: it serves only on this machine, and everyone here is an operator.</p>
            <p className="muted small">To require sign-in, configure users as the README&apos;s security section describes.</p>
            <p>
              <Link href="/">Go to the dashboard</Link>
            </p>
          </>
        )}
      </section>
    </main>
  );
}
