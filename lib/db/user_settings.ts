/**
 * Per-user settings in Deno KV at `["user_settings", uid]`.
 *
 * @module
 */

/** How a user's audio is stored; only `enhanced` is encrypted (reference section 2). */
export type DataProtectionLevel = "standard" | "enhanced";

/** Settings of one user. */
export interface UserSettings {
  data_protection_level: DataProtectionLevel;
}

/** The levels a client may set. */
export const DATA_PROTECTION_LEVELS: readonly DataProtectionLevel[] = [
  "standard",
  "enhanced",
];

const DEFAULT_SETTINGS: UserSettings = { data_protection_level: "standard" };

/** Reads and writes user settings. */
export class UserSettingsRepo {
  #kv: Deno.Kv;

  /** @param kv the store */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The user's settings; defaults for a user who never set any. */
  async get(uid: string): Promise<UserSettings> {
    const entry = await this.#kv.get<UserSettings>(["user_settings", uid]);
    return { ...DEFAULT_SETTINGS, ...entry.value };
  }

  /** Stores the user's settings. */
  async put(uid: string, settings: UserSettings): Promise<void> {
    await this.#kv.set(["user_settings", uid], settings);
  }
}
