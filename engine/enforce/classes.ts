/**
 * Destination classes: what the kernel's connect hooks know a destination
 * as (bpf/busted.h, "enforcement"). A class is a bit of a u64 verdict mask:
 * each provider of the provider table gets one, numbered in the table's
 * sorted order; BUSTED_CLASS_GATED and BUSTED_CLASS_HOST are special.
 *
 * The kernel matches host names by a hash (bpf/enforce.bpf.h name_class):
 * FNV-1a 64 over the lower-case name read right to left, so that one pass
 * yields the hash of every suffix at a label boundary. nameHash here is the
 * same function; a test holds the two to it through the kernel.
 */
import { BustedError, ErrorCode } from '../model/errors.js';
import type { ProviderTable } from '../enrich/provider.js';
import * as W from '../kernel/wire.generated.js';

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** The kernel's hash of a host name (lower-cased; a trailing dot does not count). */
export function nameHash(name: string): bigint {
  let n = name;
  if (n.endsWith('.')) n = n.slice(0, -1);
  let h = FNV64_OFFSET;
  for (let i = n.length - 1; i >= 0; i--) {
    let c = n.charCodeAt(i) & 0xff;
    if (c >= 65 && c <= 90) c += 32;
    h = ((h ^ BigInt(c)) * FNV64_PRIME) & MASK64;
  }
  return h;
}

/** Providers get classes 1..LAST_PROVIDER_CLASS; the top classes are special. */
const LAST_PROVIDER_CLASS = W.BUSTED_CLASS_GATED - 1;

export class ClassTable {
  private readonly byProvider = new Map<string, number>();
  private readonly byClass = new Map<number, string>();

  constructor(readonly providers: ProviderTable) {
    const slugs = [...new Set(providers.names().map((n) => n.provider).concat(providers.rangeList().map((r) => r.provider)))].sort();
    if (slugs.length > LAST_PROVIDER_CLASS) {
      throw new BustedError(ErrorCode.USAGE, `${slugs.length} providers: the kernel's verdict masks hold ${LAST_PROVIDER_CLASS}`, 'providers');
    }
    slugs.forEach((p, i) => {
      this.byProvider.set(p, i + 1);
      this.byClass.set(i + 1, p);
    });
  }

  /** The class of a provider slug, or undefined for one the table does not know. */
  classOf(provider: string): number | undefined {
    return this.byProvider.get(provider);
  }

  /** What a class number stands for: a provider slug, 'gated', 'host', or undefined. */
  nameOf(klass: number): string | undefined {
    if (klass === W.BUSTED_CLASS_HOST) return 'host';
    if (klass === W.BUSTED_CLASS_GATED) return 'gated';
    return this.byClass.get(klass);
  }

  /** Every provider with its class, in class order. */
  entries(): Array<[provider: string, klass: number]> {
    return [...this.byProvider.entries()];
  }
}
