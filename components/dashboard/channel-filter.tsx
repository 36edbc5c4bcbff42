"use client";
// Which broadcast channels this tab follows: all, or some of the known ones, or one typed in.
import { useState, type FormEvent } from "react";
import { ChannelNameSchema } from "@/lib/contract";
import { toggleChannel } from "@/lib/live-state";
import { describeZodError } from "@/lib/zod-message";

export function ChannelFilter({
  offered,
  followed,
  changing,
  follow,
  onAdd,
}: {
  /** Every channel to show a box for. */
  offered: string[];
  followed: string[] | null;
  /** A change awaits the server's answer. */
  changing: boolean;
  follow: (channels: string[] | null) => void;
  /** A channel typed in, to offer from now on. */
  onAdd: (channel: string) => void;
}) {
  const [typed, setTyped] = useState("");
  const [typedError, setTypedError] = useState<string>();

  const add = (event: FormEvent) => {
    event.preventDefault();
    const parsed = ChannelNameSchema.safeParse(typed.trim());
    if (!parsed.success) return setTypedError(describeZodError(parsed.error));
    setTypedError(undefined);
    setTyped("");
    onAdd(parsed.data);
    // Following all already includes it.
    if (followed !== null && !followed.includes(parsed.data)) follow([...followed, parsed.data]);
  };

  return (
    <form className="channel-filter" onSubmit={add}>
      <fieldset aria-busy={changing}>
        <legend>Follow channels</legend>
        <label className="check">
          <input type="checkbox" checked={followed === null} onChange={(e) => follow(e.target.checked ? null : [])} />
          All channels
        </label>
        {offered.map((channel) => (
          <label className="check" key={channel}>
            <input
              type="checkbox"
              checked={followed === null || followed.includes(channel)}
              onChange={(e) => follow(toggleChannel(followed, offered, channel, e.target.checked))}
            />
            {channel}
          </label>
        ))}
        <div className="inline-form">
          <label htmlFor="follow-channel" className="visually-hidden">
            Channel to follow
          </label>
          <input id="follow-channel" type="text" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="Another channel" autoComplete="off" />
          <button type="submit" className="secondary small-button" disabled={typed.trim() === ""}>
            Follow channel
          </button>
        </div>
        {typedError && (
          <p role="alert" className="error small">
            {typedError}
          </p>
        )}
      </fieldset>
    </form>
  );
}
