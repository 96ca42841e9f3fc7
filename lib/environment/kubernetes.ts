// A Kubernetes pod, recognized as kubelet sets it up: the container's oom_score_adj follows
// kubelet's QoS policy (pkg/kubelet/qos/policy.go: -997 Guaranteed, 1000 BestEffort, 2..999
// Burstable), together with the pod's cgroup path (kubepods…) or the variables kubelet puts in
// every container's environment (KUBERNETES_SERVICE_HOST).
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface KubernetesPod {
  /** The QoS class the oom_score_adj says. */
  qosClass: QosClass;
  /** The facts it rests on. */
  evidence: string[];
}

export function qosClassOf(oomScoreAdj: number): QosClass | null {
  if (oomScoreAdj === -997) return 'Guaranteed';
  if (oomScoreAdj === 1000) return 'BestEffort';
  if (oomScoreAdj >= 2 && oomScoreAdj <= 999) return 'Burstable';
  return null;
}

/**
 * The pod, or null. `oomScoreAdj`: the agent's as the container started it (protectSelf() later
 * changes it); `cgroupPaths`: the agent's cgroup paths and the mount roots that show them.
 */
export function recognizePod(oomScoreAdj: number | null, cgroupPaths: string[], env: NodeJS.ProcessEnv = process.env): KubernetesPod | null {
  const qosClass = oomScoreAdj === null ? null : qosClassOf(oomScoreAdj);
  if (!qosClass) return null;
  const evidence = [`oom_score_adj ${oomScoreAdj}: kubelet's value for a ${qosClass} pod`];
  const podPath = cgroupPaths.find((p) => p.includes('kubepods'));
  if (podPath) evidence.push(`cgroup ${podPath}`);
  if (env.KUBERNETES_SERVICE_HOST !== undefined) evidence.push(`KUBERNETES_SERVICE_HOST=${env.KUBERNETES_SERVICE_HOST}`);
  return evidence.length > 1 ? { qosClass, evidence } : null;
}
