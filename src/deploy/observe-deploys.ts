import type { StateStore } from '../state/state-store.ts';
import type { DeployRecord } from './deploy-types.ts';

/** Hears a deploy whose state or commit changed; `before` is the record as it was (undefined for a new one). */
export type DeployListener = (record: DeployRecord, before: DeployRecord | undefined) => void;

/**
 * The state store, with every change of a deploy's state or commit told to
 * `listener` after it is written: the one place every path of a deploy goes
 * through (the queue, a superseded push, a crash, a deploy found interrupted),
 * so commit statuses and notifications miss none. A listener that throws is
 * ignored: telling the world must never fail a deploy.
 */
export function observeDeploys(store: StateStore, listener: DeployListener): StateStore {
  const tell = (record: DeployRecord, before: DeployRecord | undefined): void => {
    if (before !== undefined && before.state === record.state && before.sha === record.sha) return;
    try {
      listener(record, before);
    } catch {
      // The listener logs its own failures; the deploy goes on.
    }
  };
  return {
    file: store.file,
    recordDelivery: (site, forge, delivery) => store.recordDelivery(site, forge, delivery),
    linkDelivery: (site, delivery, deployId) => store.linkDelivery(site, delivery, deployId),
    forgetDelivery: (site, delivery) => store.forgetDelivery(site, delivery),
    lockSite: (site, lock) => store.lockSite(site, lock),
    unlockSite: (site) => store.unlockSite(site),
    siteLock: (site) => store.siteLock(site),
    createDeploy(input, now) {
      const record = store.createDeploy(input, now);
      tell(record, undefined);
      return record;
    },
    updateDeploy(id, patch) {
      const before = store.getDeploy(id);
      const record = store.updateDeploy(id, patch);
      tell(record, before);
      return record;
    },
    getDeploy: (id) => store.getDeploy(id),
    findDeploy: (prefix) => store.findDeploy(prefix),
    listDeploys: (options) => store.listDeploys(options),
    recoverInterrupted(now, site) {
      const before = new Map(store.listDeploys({ ...(site === undefined ? {} : { site }), states: ['queued', 'building', 'publishing'], limit: 1000 }).map((record) => [record.id, record]));
      const recovered = store.recoverInterrupted(now, site);
      for (const record of recovered) tell(record, before.get(record.id));
      return recovered;
    },
    recordBuildProcess: (id, pgid) => store.recordBuildProcess(id, pgid),
    buildProcess: (id) => store.buildProcess(id),
    ownerRunning: (id) => store.ownerRunning(id),
    pruneDeploys: (policy, limit) => store.pruneDeploys(policy, limit),
    pruneDeliveries: (before, limit) => store.pruneDeliveries(before, limit),
    hasDeploy: (id) => store.hasDeploy(id),
    liveSha: (site) => store.liveSha(site),
    servingDeploy: (site, releaseId) => store.servingDeploy(site, releaseId),
    close: () => store.close(),
  };
}
