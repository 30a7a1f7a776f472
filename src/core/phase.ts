/**
 * The words the agent and its readers share about where a node stands: its phase as reported (the
 * metric, `kured-ts status`), and what the post-reboot health check found.
 */
export type Phase = 'idle' | 'waiting' | 'draining' | 'rebooting' | 'settling' | 'halted' | 'releasing';

/** What keeps a rebooted node from counting as back (the pods, an alert); retryAt when it must be asked again. */
export type Health = { healthy: true } | { healthy: false; reason: string; retryAt?: Date };
