/**
 * Personal data in Temporal histories, readable only while the person exists: every payload of a
 * journey (its input, signals, activity arguments and results, queries) is encrypted with its
 * contact's own key (AES-256-GCM); the history keeps the ciphertext and the key's id. Erasure
 * deletes the key (db/contact-erase.ts), so each of that person's histories, past and future,
 * becomes unreadable, while every other contact's still decodes. Payloads of workflows that
 * belong to nobody (campaigns, clocks, maintenance) are left as they are.
 *
 * The same codec runs in the worker, in every client (API, router, tests) and behind the codec
 * endpoint (api/codec/router.ts) that the Temporal UI and CLI call to show payloads decoded.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { journeyWorkflowKey, keyById, type ContactKey } from './payload-keys';
import type { Queryable } from './pool';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** How long a worker or client trusts a key it read: an erasure is honoured there within this time. */
export const KEY_TTL_MS = 60_000;
const MAX_CACHED = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

/** A bounded map whose entries expire (null: never). */
class Cache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  constructor(private readonly ttlMs: number | null) {}
  get(key: string): V | undefined {
    if (this.ttlMs === 0) return undefined;
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (Date.now() > hit.until) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }
  set(key: string, value: V): void {
    if (this.entries.size >= MAX_CACHED) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, until: this.ttlMs === null ? Number.POSITIVE_INFINITY : Date.now() + this.ttlMs });
  }
}

/** The contact a workflow's payloads belong to: journeys only (their workflow ids start so). */
const isJourney = (workflowId: string | undefined): workflowId is string => !!workflowId?.startsWith('journey:');

export class ContactPayloadCodec implements PayloadCodec {
  private readonly contactOf = new Cache<string>(null);
  private readonly byContact: Cache<ContactKey>;
  private readonly byId: Cache<ContactKey>;

  /** `keyTtlMs` 0: every key read afresh (the codec endpoint: support never reads an erased person). */
  constructor(
    private readonly db: Queryable,
    opts: { keyTtlMs?: number } = {},
  ) {
    this.byContact = new Cache<ContactKey>(opts.keyTtlMs ?? KEY_TTL_MS);
    this.byId = new Cache<ContactKey>(opts.keyTtlMs ?? KEY_TTL_MS);
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const key = await this.keyFor(context?.workflowId);
    if (!key) return payloads;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key.secret, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: text(ENCRYPTED_ENCODING), [KEY_ID]: text(key.keyId) }, data };
    });
  }

  /** A payload whose key is gone (its contact was erased) stays encrypted: nobody can read it any more. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        if (str(payload.metadata?.encoding) !== ENCRYPTED_ENCODING || !payload.data) return payload;
        const key = await this.keyById(str(payload.metadata?.[KEY_ID]));
        if (!key || payload.data.length < IV_BYTES + TAG_BYTES) return payload;
        const data = Buffer.from(payload.data);
        try {
          const decipher = createDecipheriv('aes-256-gcm', key.secret, data.subarray(0, IV_BYTES));
          decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
          const plain = Buffer.concat([
            decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
            decipher.final(),
          ]);
          return temporal.api.common.v1.Payload.decode(plain) as Payload;
        } catch {
          return payload; // tampered or not ours: left as it came
        }
      }),
    );
  }

  private async keyFor(workflowId: string | undefined): Promise<ContactKey | undefined> {
    if (!isJourney(workflowId)) return undefined;
    const contactId = this.contactOf.get(workflowId);
    const cached = contactId === undefined ? undefined : this.byContact.get(contactId);
    if (cached) return cached;
    const found = await journeyWorkflowKey(this.db, workflowId);
    if (!found) return undefined; // a journey started outside the router (tests)
    this.contactOf.set(workflowId, found.contactId);
    this.byContact.set(found.contactId, found.key);
    this.byId.set(found.key.keyId, found.key);
    return found.key;
  }

  private async keyById(keyId: string | undefined): Promise<ContactKey | undefined> {
    if (!keyId || !UUID.test(keyId)) return undefined;
    const cached = this.byId.get(keyId);
    if (cached) return cached;
    const key = await keyById(this.db, keyId);
    if (key) this.byId.set(keyId, key);
    return key;
  }
}

/** The data converter of every Temporal client and worker of Parcours (one codec per process and pool). */
export function contactDataConverter(db: Queryable): { payloadCodecs: PayloadCodec[] } {
  return { payloadCodecs: [new ContactPayloadCodec(db)] };
}
