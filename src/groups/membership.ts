/**
 * @module Group membership rules (issue 6), as pure functions over a snapshot: who may add,
 * remove, change roles and settings, the 1,024-member cap, and who is promoted when the last admin
 * leaves. The group's ChatRoom applies the plan (D1 first, then its snapshot and the event).
 */
import { MAX_GROUP_MEMBERS } from "../limits";
import type { GroupEventBody, GroupRoleBody } from "../protocol/group-events";
import type { GroupChangeInputBody, GroupSettings } from "../protocol/internal";

export interface MemberState {
  role: GroupRoleBody;
  /** chat_seq of the event that made the account a member (0: the creation). */
  joined_seq: number;
}

export interface GroupState {
  chat_id: string;
  settings: GroupSettings;
  created_by: string;
  created_at: number;
  version: number;
  members: Map<string, MemberState>;
}

/** A change that passed the rules: the state after it, the event to record, and the D1 row changes. */
export interface GroupChangePlan {
  after: GroupState;
  event: GroupEventBody;
  /** Accounts that stop being members (they still receive this event, nothing after it). */
  removed: string[];
  /** Member rows to insert or whose role changed. */
  upserts: { account_id: string; role: GroupRoleBody }[];
  created: boolean;
}

export type PlanError = { code: "forbidden" | "not_found" | "conflict"; message: string };
export type PlanResult = { ok: true; plan: GroupChangePlan } | { ok: false; error: PlanError } | { ok: true; plan: null };

const refuse = (code: PlanError["code"], message: string): PlanResult => ({ ok: false, error: { code, message } });

function cloneState(state: GroupState): GroupState {
  return { ...state, settings: { ...state.settings }, members: new Map(state.members) };
}

function admins(members: Map<string, MemberState>): string[] {
  return [...members].filter(([, m]) => m.role === "admin").map(([a]) => a);
}

/**
 * Checks `change` by `actor` against `state` (null before creation) and plans it; `seq` is the
 * chat_seq the event will get, `now` the time. `{ ok: true, plan: null }` means nothing to do
 * (adding only existing members).
 */
export function planGroupChange(state: GroupState | null, input: GroupChangeInputBody, seq: number, now: number): PlanResult {
  const { actor, change } = input;
  if (change.op === "create") {
    if (state) return refuse("conflict", "the group already exists");
    const others = [...new Set(change.members)].filter((a) => a !== actor);
    if (others.length + 1 > MAX_GROUP_MEMBERS) return refuse("conflict", `a group has at most ${MAX_GROUP_MEMBERS} members`);
    const members = new Map<string, MemberState>([[actor, { role: "admin", joined_seq: seq }]]);
    for (const account of others) members.set(account, { role: "member", joined_seq: seq });
    const after: GroupState = { chat_id: change.chat_id, settings: change.settings, created_by: actor, created_at: now, version: 1, members };
    return {
      ok: true,
      plan: {
        after,
        created: true,
        removed: [],
        upserts: [...members].map(([account_id, m]) => ({ account_id, role: m.role })),
        event: {
          type: "created",
          name: change.settings.name,
          who_can_add: change.settings.who_can_add,
          members: [...members].map(([account_id, m]) => ({ account_id, role: m.role })),
        },
      },
    };
  }

  if (!state) return refuse("not_found", "no such group");
  const actorState = state.members.get(actor);
  if (!actorState) return refuse("forbidden", "not a member of this group");
  const isAdmin = actorState.role === "admin";
  const after = cloneState(state);
  after.version = state.version + 1;
  const plan = (event: GroupEventBody, removed: string[], upserts: GroupChangePlan["upserts"]): PlanResult => ({
    ok: true,
    plan: { after, event, removed, upserts, created: false },
  });

  switch (change.op) {
    case "add": {
      if (state.settings.who_can_add === "admins" && !isAdmin) return refuse("forbidden", "only admins may add members to this group");
      const fresh = [...new Set(change.account_ids)].filter((a) => !state.members.has(a));
      if (fresh.length === 0) return { ok: true, plan: null };
      if (state.members.size + fresh.length > MAX_GROUP_MEMBERS) return refuse("conflict", `a group has at most ${MAX_GROUP_MEMBERS} members`);
      for (const account of fresh) after.members.set(account, { role: "member", joined_seq: seq });
      return plan({ type: "members_added", account_ids: fresh }, [], fresh.map((account_id) => ({ account_id, role: "member" as const })));
    }
    case "remove": {
      if (change.account_id === actor) return refuse("conflict", "use leave to remove yourself");
      if (!isAdmin) return refuse("forbidden", "only admins may remove members");
      if (!state.members.has(change.account_id)) return refuse("not_found", "not a member of this group");
      after.members.delete(change.account_id);
      return plan({ type: "member_removed", account_id: change.account_id }, [change.account_id], []);
    }
    case "leave": {
      after.members.delete(actor);
      const promoted: string[] = [];
      if (isAdmin && admins(after.members).length === 0 && after.members.size > 0) {
        // The longest-standing member takes over (ties: the smaller account id, so it is deterministic).
        const [successor] = [...after.members].sort(([a, x], [b, y]) => x.joined_seq - y.joined_seq || (a < b ? -1 : 1))[0]!;
        after.members.set(successor, { ...after.members.get(successor)!, role: "admin" });
        promoted.push(successor);
      }
      return plan({ type: "member_left", account_id: actor, promoted }, [actor], promoted.map((account_id) => ({ account_id, role: "admin" as const })));
    }
    case "set_role": {
      if (!isAdmin) return refuse("forbidden", "only admins may change roles");
      const target = state.members.get(change.account_id);
      if (!target) return refuse("not_found", "not a member of this group");
      if (target.role === change.role) return { ok: true, plan: null };
      if (change.role === "member" && admins(state.members).length === 1) return refuse("conflict", "a group needs at least one admin: promote another member first");
      after.members.set(change.account_id, { ...target, role: change.role });
      return plan({ type: "role_changed", account_id: change.account_id, role: change.role }, [], [{ account_id: change.account_id, role: change.role }]);
    }
    case "update": {
      if (!isAdmin) return refuse("forbidden", "only admins may change the group's settings");
      const changes = Object.fromEntries(Object.entries(change.settings).filter(([, v]) => v !== undefined)) as Partial<GroupSettings>;
      after.settings = { ...state.settings, ...changes };
      return plan({ type: "settings_changed", ...changes }, [], []);
    }
  }
}

/** The snapshot as stored in the ChatRoom and shipped in a change intent. */
export interface StoredGroupState {
  chat_id: string;
  settings: GroupSettings;
  created_by: string;
  created_at: number;
  version: number;
  members: [string, MemberState][];
}

export function storeGroupState(state: GroupState): StoredGroupState {
  return { ...state, members: [...state.members] };
}

export function loadGroupState(stored: StoredGroupState): GroupState {
  return { ...stored, members: new Map(stored.members) };
}
