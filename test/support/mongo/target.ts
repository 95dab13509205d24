import { type MongoWireServer, startMongoWireServer } from '../mongo-wire-server.js';

/** Where the MongoDB tests run: the server named by MONGODB_URL, else the in-process stand-in. */
export interface MongoTarget {
  kind: 'real' | 'stand-in';
  url: string;
  /** Said in test names and printed once per file, so a run never hides which of the two it used. */
  label: string;
  /** Set only for the stand-in, whose refusals tests can assert on. */
  standIn: MongoWireServer | null;
  close(): Promise<void>;
}

export async function mongoTarget(): Promise<MongoTarget> {
  const url = process.env.MONGODB_URL;
  if (url) {
    const shown = new URL(url);
    shown.username = '';
    shown.password = '';
    return {
      kind: 'real',
      url,
      label: `real MongoDB server (MONGODB_URL=${shown.host})`,
      standIn: null,
      close: async () => undefined,
    };
  }
  const standIn = await startMongoWireServer();
  return {
    kind: 'stand-in',
    url: standIn.url,
    label: 'in-process wire-protocol stand-in, NOT a real mongod (set MONGODB_URL to use one)',
    standIn,
    close: () => standIn.close(),
  };
}

export function announce(target: MongoTarget, file: string): void {
  console.info(`\n[sessionkit] ${file}: MongoDB tests run against the ${target.label}\n`);
}
