/**
 * --silence-during-reboot: the Alertmanager silences a reboot holds, so that the alerts every
 * reboot fires (node down, target down, pods unavailable) page nobody. One silence per matcher
 * list, templated with the node's name, created before the cordon and expired once the node is
 * healthy. Each ends by itself at most --silence-max-duration after it was created: an agent killed
 * at any instant never leaves one behind past its end. The ids ride in the cycle annotation, so a
 * restarted agent expires them; a silence created just before a kill (its id not yet recorded) is
 * found again by its comment and reused.
 */
import { ConfigError } from '../core/errors.ts';
import { describeError, type Endpoint } from './endpoint.ts';
import { type Matcher, parseMatchers, toSilenceMatchers } from './matchers.ts';

/** Stands for the node while the template is parsed: a plain word, valid in a quoted value and a regex. */
const PLACEHOLDER = 'KUREDTSNODENAMEPLACEHOLDER';
const CREATED_BY = 'kured-ts';

/** The matcher lists with {{node}} replaced (escaped inside a regex); throws ConfigError naming the flag. */
export function silenceMatchers(templates: string[], node: string): Matcher[][] {
  return templates
    .filter((t) => t.trim() !== '')
    .map((t) =>
      parseTemplate(t).map((m) => ({
        ...m,
        value: m.value.replaceAll(
          PLACEHOLDER,
          m.op === '=~' || m.op === '!~' ? node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : node,
        ),
      })),
    );
}

function parseTemplate(template: string): Matcher[] {
  try {
    return parseMatchers(template.replace(/\{\{\s*node\s*\}\}/g, PLACEHOLDER), '--silence-during-reboot');
  } catch (err) {
    // The message shows the template as the user wrote it.
    throw new ConfigError((err as Error).message.replaceAll(PLACEHOLDER, '{{node}}'));
  }
}

interface GettableSilence {
  id?: string;
  comment?: string;
  createdBy?: string;
  endsAt?: string;
  status?: { state?: string };
}

export class RebootSilences {
  private readonly endpoint: Endpoint;
  private readonly lists: Matcher[][];
  private readonly node: string;
  private readonly maxMs: number;

  constructor(endpoint: Endpoint, lists: Matcher[][], node: string, maxMs: number) {
    this.endpoint = endpoint;
    this.lists = lists;
    this.node = node;
    this.maxMs = maxMs;
  }

  /** The comment that names this node's cycle: how a silence is found again after a kill. */
  comment(cycleId: string): string {
    return `kured-ts: reboot of ${this.node} (cycle ${cycleId})`;
  }

  /** Creates the silences (or finds those this cycle already made); rejects with the cause. */
  async create(cycleId: string, now: Date): Promise<string[]> {
    const comment = this.comment(cycleId);
    const existing = await this.active(comment);
    const ids: string[] = [];
    for (const [i, list] of this.lists.entries()) {
      const tag = `${comment} #${i + 1}`;
      const found = existing.find((s) => s.comment === tag);
      if (found?.id) {
        ids.push(found.id);
        continue;
      }
      const res = await this.endpoint.call(this.endpoint.url('api/v2/silences'), 'POST', {
        matchers: toSilenceMatchers(list),
        startsAt: now.toISOString(),
        endsAt: new Date(now.getTime() + this.maxMs).toISOString(),
        createdBy: CREATED_BY,
        comment: tag,
      });
      const id = (res.body as { silenceID?: string } | undefined)?.silenceID;
      if (res.status < 200 || res.status > 299 || !id) {
        throw new Error(`Alertmanager answered HTTP ${res.status}: ${firstLine(res.text)}`);
      }
      ids.push(id);
    }
    return ids;
  }

  /** Expires the silences; one already gone (expired, ended, deleted) is fine. Rejects with the cause. */
  async expire(ids: string[]): Promise<void> {
    for (const id of ids) {
      const res = await this.endpoint.call(
        this.endpoint.url(`api/v2/silence/${encodeURIComponent(id)}`),
        'DELETE',
      );
      if (
        (res.status < 200 || res.status > 299) &&
        res.status !== 404 &&
        !/already expired/i.test(res.text)
      ) {
        throw new Error(
          `expiring silence ${id}: Alertmanager answered HTTP ${res.status}: ${firstLine(res.text)}`,
        );
      }
    }
  }

  private async active(comment: string): Promise<GettableSilence[]> {
    const res = await this.endpoint.call(this.endpoint.url('api/v2/silences'), 'GET');
    if (res.status < 200 || res.status > 299 || !Array.isArray(res.body)) {
      throw new Error(`listing silences: Alertmanager answered HTTP ${res.status}: ${firstLine(res.text)}`);
    }
    return (res.body as GettableSilence[]).filter(
      (s) => s.createdBy === CREATED_BY && s.status?.state === 'active' && s.comment?.startsWith(comment),
    );
  }

  describe(err: unknown): string {
    return `Alertmanager at ${this.endpoint.display}: ${describeError(err)}`;
  }
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200);
}
