/**
 * Wiring: one agent from its configuration, with its own clients, watches and state. main.ts runs
 * one; a benchmark may build many in one process, each exactly as distinct as separate pods.
 */
import type { V1DaemonSet, V1Node } from '@kubernetes/client-node';
import { Agent } from './agent/agent.ts';
import { realClock } from './agent/clock.ts';
import { cycleCompanion, hookReporter } from './agent/companion.ts';
import { agentSettings } from './agent/settings.ts';
import type { Config } from './core/config.ts';
import { CYCLE_ANNOTATION } from './core/cycle.ts';
import { NEEDED_ANNOTATION } from './core/history.ts';
import { TURN_ANNOTATION } from './core/lock/queue.ts';
import type { Logger } from './core/log.ts';
import type { Clock, PodHealth, Rebooter, Sentinel } from './core/ports.ts';
import { createDrainer } from './drain/drainer.ts';
import { alertmanagerEndpoint } from './gates/alertmanager.ts';
import { kubeBudgetSource } from './gates/budgets-kube.ts';
import { Endpoint, flagsFor } from './gates/endpoint.ts';
import { PostRebootHook, preRebootHookGate } from './gates/hooks.ts';
import { createGates, windowFromConfig } from './gates/index.ts';
import { RebootSilences, silenceMatchers } from './gates/silence.ts';
import { nodePodHealth } from './health/node-pods.ts';
import { connect } from './kube/client.ts';
import { NodeFleet } from './kube/fleet.ts';
import { probeGrants } from './kube/grants.ts';
import { LeaseLine } from './kube/line.ts';
import { NodeOps, viewNode } from './kube/node.ts';
import { follow, WatchedObject } from './kube/watch.ts';
import { DaemonSetLock, lockSettings } from './lock/store.ts';
import { createNotifier } from './notify/index.ts';
import { NodeEvents } from './observe/events.ts';
import { AgentMetrics } from './observe/metrics.ts';
import { registerScheduleMetrics } from './observe/schedule-metrics.ts';
import { startObserveServer } from './observe/server.ts';
import { hostCommand } from './reboot/host.ts';
import { kernelBootID } from './reboot/kernel.ts';
import { commandRebooter, signalRebooter } from './reboot/rebooter.ts';
import { REQUEST_ANNOTATION } from './reboot/request.ts';
import { commandSentinel, fileSentinel } from './reboot/sentinel.ts';

/** How to build an agent that shares its process with others (a benchmark); main.ts uses the defaults. */
export interface WireOptions {
  /** The agent's own clients from this kubeconfig file (default: in-cluster or $KUBECONFIG). */
  kubeconfig?: string;
  /** false: no /metrics server (default true, on --metrics-host/--metrics-port). */
  serve?: boolean;
  /** false: no process metrics, which many agents in one process would only repeat (default true). */
  processMetrics?: boolean;
  /** The agent's clock (default: real time); the chaos bench skews one agent's clock by minutes. */
  clock?: Clock;
}

export async function wireAgent(
  config: Config,
  logger: Logger,
  opts: WireOptions = {},
): Promise<{ agent: Agent; shutdown: () => Promise<void> }> {
  const kube = connect(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : process.env, {
    // A busy API server (a fleet's first rush) is waited for as it asks: a warning, not a failure.
    onThrottled: (t) =>
      logger.warn(
        { request: t.request, retryAfterMs: t.toldMs, waitMs: Math.round(t.waitMs), attempt: t.attempt },
        'the API server is busy (HTTP 429); waiting as it asked before sending again',
      ),
  });
  const clock = opts.clock ?? realClock;
  const openStream = (path: string, signal: AbortSignal) => kube.stream(path, signal);
  // Each watch feeds a cache, so a woken agent reads its Node and the lock without a request.
  const nodeCache = new WatchedObject<V1Node>();
  const lockCache = new WatchedObject<V1DaemonSet>();
  // Beyond kured's own RBAC, each capability only if granted: one warning each, then kured's way.
  const { grants, missing } = await probeGrants(
    kube,
    { namespace: config.dsNamespace, name: config.dsName },
    config.nodeId,
  );
  for (const line of missing) logger.warn(`RBAC: ${line}; grant it to turn this back on`);
  const node = new NodeOps(kube, config.nodeId, nodeCache);
  const budgets = config.budgetPreflight
    ? kubeBudgetSource(kube, {
        podSelector: config.drainPodSelector,
        skipWaitForDeleteTimeout: config.skipWaitForDeleteTimeout,
      })
    : undefined;
  const gates = createGates(config, { kube, ...(budgets ? { budgets } : {}) });
  const events = new NodeEvents(kube, { name: config.nodeId, uid: '' }, logger, {
    off: !grants.createEvents,
  });
  const { companion, preRebootGate, postHook } = cycleExtras(config, node, events, logger, clock);
  if (preRebootGate) gates.push(preRebootGate);
  // Without the right to list budgets: one warning now, and drains as kured's (the gate stays open).
  if (budgets) void budgets.probe().then((problem) => problem && logger.warn(problem));
  const notifier = createNotifier(config, logger);
  const metrics = new AgentMetrics(config.nodeId, { defaultMetrics: opts.processMetrics !== false });
  registerScheduleMetrics(metrics.registry, config.nodeId, windowFromConfig(config));
  // Without a watch, what it would have woken us for is looked at this often (only while active).
  const pollMs = agentSettings(config).gateRecheckMs;
  const lock = new DaemonSetLock(
    kube,
    { ...lockSettings(config), writeBy: grants.patchDaemonSet ? 'patch' : 'update' },
    clock,
    logger,
    lockCache,
  );
  const agent: Agent = new Agent(
    {
      node,
      lock,
      fleet: new NodeFleet(kube, {
        node: config.nodeId,
        zoneLabel: config.zoneLabel,
        // A page of the line holds every slot's next node and the spare, twice over (ghosts, zones).
        line: grants.line
          ? new LeaseLine(
              kube,
              { namespace: config.dsNamespace, name: config.dsName },
              2 * config.concurrency + 10,
            )
          : undefined,
        canListNodes: grants.listNodes,
      }),
      sentinel: sentinel(config, logger),
      gates,
      drainer: createDrainer(kube, {
        gracePeriodSeconds: config.drainGracePeriod,
        podSelector: config.drainPodSelector,
        skipWaitForDeleteTimeoutSeconds: config.skipWaitForDeleteTimeout,
        parallelism: config.drainParallelism,
        clock,
        logger,
        // `kured-ts status` shows a node's latest Event: the webhook's word on why its drain waits.
        onDenied: (pod, cause) =>
          events.record(
            'Warning',
            'EvictionDenied',
            'Drain',
            `${pod}: ${cause} (retried until the drain timeout)`,
          ),
      }),
      rebooter: rebooter(config),
      kernelBootID: kernelBootID(),
      ...(companion ? { companion } : {}),
      notifier,
      events,
      telemetry: metrics,
      clock,
      logger,
      podHealth: polledWithout(
        grants.watchPods,
        nodePodHealth(kube, config.nodeId, config.postRebootReadySelector, logger),
        // Only the one node settling after its reboot lists its own pods: as often as a rebooting node looks.
        agentSettings(config).nodePollMs,
      ),
      watches: [
        (wake) =>
          grants.watchNodes
            ? follow(openStream, '/api/v1/nodes', config.nodeId, nodeCache, wake, nodeKey, logger)
            : poll(wake, pollMs),
      ],
      lockWatch: (wake) =>
        grants.watchDaemonSets
          ? follow(
              openStream,
              `/apis/apps/v1/namespaces/${config.dsNamespace}/daemonsets`,
              config.dsName,
              lockCache,
              wake,
              (ds) => JSON.stringify(ds?.metadata?.annotations ?? null),
              logger,
            )
          : poll(wake, pollMs),
    },
    agentSettings(config),
  );
  const server =
    opts.serve === false
      ? undefined
      : await startObserveServer({
          host: config.metricsHost,
          port: config.metricsPort,
          registry: metrics.registry,
          ready: () => agent.ready,
          logger,
        });
  // On SIGTERM (the node shutting down for its reboot) give queued notifications a moment to go.
  const shutdown = async () => {
    await Promise.all([notifier.flush(3000), events.flush(), postHook?.flush()]);
    await server?.close();
  };
  return { agent, shutdown };
}

/** Stands in for a watch the RBAC does not allow: wakes the agent every ms while it follows. */
function poll(wake: () => void, ms: number): () => void {
  const timer = setInterval(wake, ms);
  return () => clearInterval(timer);
}

/** The node's pods, polled instead of watched when `watch` on pods is not granted. */
function polledWithout(watchable: boolean, health: PodHealth, ms: number): PodHealth {
  return watchable ? health : { ...health, watch: (onChange) => poll(onChange, ms) };
}

/** What of our Node can change a decision: heartbeats and other status noise are ignored. */
function nodeKey(n: V1Node | undefined): string {
  if (!n) return 'deleted';
  const view = viewNode(n);
  return JSON.stringify([
    view.unschedulable,
    view.ready,
    view.bootID,
    view.annotations[CYCLE_ANNOTATION],
    view.annotations[REQUEST_ANNOTATION],
    view.taints,
    // Named by another node: our turn is near (a standing-by node holds no lock watch).
    view.annotations[TURN_ANNOTATION],
  ]);
}

/** The silences, the approval hooks and what reports their calls; all absent when unconfigured. */
function cycleExtras(config: Config, node: NodeOps, events: NodeEvents, logger: Logger, clock: Clock) {
  const report = hookReporter(node, events, logger);
  const hookAuth = {
    bearerTokenFile: config.hookBearerTokenFile || undefined,
    basicAuthFile: config.hookBasicAuthFile || undefined,
    caFile: config.hookCaFile || undefined,
    timeoutMs: config.hookTimeoutMs,
  };
  const hook = (url: string, flag: string) =>
    new Endpoint(
      { url, ...hookAuth },
      { ...flagsFor('hook', ''), url: flag, example: 'https://itsm.example/api/kured' },
      true,
    );
  const preRebootGate = config.preRebootHookUrl
    ? preRebootHookGate(
        hook(config.preRebootHookUrl, '--pre-reboot-hook-url'),
        config.nodeId,
        config.rebootSentinelCommand
          ? `the sentinel command says a reboot is needed`
          : `${config.rebootSentinel} exists`,
        async () => (await node.read()).annotations[NEEDED_ANNOTATION],
        report,
      )
    : undefined;
  const postHook = config.postRebootHookUrl
    ? new PostRebootHook(hook(config.postRebootHookUrl, '--post-reboot-hook-url'), config.nodeId, report)
    : undefined;
  const lists = silenceMatchers(config.silenceDuringReboot, config.nodeId);
  const silences =
    lists.length && config.alertmanagerUrl
      ? new RebootSilences(
          alertmanagerEndpoint({
            url: config.alertmanagerUrl,
            bearerTokenFile: config.alertmanagerBearerTokenFile || undefined,
            basicAuthFile: config.alertmanagerBasicAuthFile || undefined,
            caFile: config.alertmanagerCaFile || undefined,
          }),
          lists,
          config.nodeId,
          config.silenceMaxDurationMs,
        )
      : undefined;
  const companion =
    silences || postHook ? cycleCompanion({ silences, postHook, events, logger, clock }) : undefined;
  return { companion, preRebootGate, postHook };
}

function sentinel(config: Config, logger: Logger): Sentinel {
  if (config.rebootSentinelCommand) {
    const cmd = hostCommand(
      config.rebootSentinelCommand,
      config.nsenterPath,
      config.hostPid,
      '--reboot-sentinel-command',
    );
    return commandSentinel(cmd, logger);
  }
  return fileSentinel(config.rebootSentinel, logger);
}

function rebooter(config: Config): Rebooter {
  if (config.rebootMethod === 'signal') return signalRebooter(config.hostPid, config.rebootSignal);
  return commandRebooter(
    hostCommand(config.rebootCommand, config.nsenterPath, config.hostPid, '--reboot-command'),
  );
}
