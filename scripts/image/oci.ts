/**
 * OCI plumbing: reproducible layer tars (GNU tar: sorted, one mtime, root-owned, no atime/ctime),
 * one image per architecture assembled with umoci, and the multi-architecture image index that
 * umoci does not write.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

/** Writes `dir` as an uncompressed layer tar whose bytes depend only on the files' contents and modes. */
export function layerTar(dir: string, out: string, epoch: number): void {
  execFileSync('tar', [
    '--create',
    `--file=${out}`,
    `--directory=${dir}`,
    '--sort=name',
    `--mtime=@${epoch}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--no-xattrs',
    '--no-acls',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '.',
  ]);
}

export function umoci(...args: string[]): void {
  execFileSync('umoci', args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

export function readIndex(layout: string): { schemaVersion: number; manifests: Descriptor[] } {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
}

export function readBlob<T>(layout: string, digest: string): T {
  return JSON.parse(readFileSync(blobPath(layout, digest), 'utf8'));
}

export function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', ...digest.split(':'));
}

/** Adds a JSON blob (canonical: no whitespace) to the layout; returns its descriptor. */
export function writeBlob(layout: string, mediaType: string, value: unknown): Descriptor {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(blobPath(layout, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Replaces the layout's per-architecture tags by one multi-architecture image index tagged `tag`:
 * what `skopeo copy --all` pushes and what a node pulls its own architecture from.
 */
export function writeImageIndex(
  layout: string,
  tag: string,
  arches: string[],
  annotations: Record<string, string> = {},
): Descriptor {
  const byTag = new Map(
    readIndex(layout).manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d]),
  );
  const manifests = arches.map((arch) => {
    const d = byTag.get(arch);
    if (!d) throw new Error(`the layout has no image tagged ${arch}`);
    return {
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      platform: { architecture: arch, os: 'linux' },
    };
  });
  const index = writeBlob(layout, INDEX_TYPE, {
    schemaVersion: 2,
    mediaType: INDEX_TYPE,
    manifests,
    annotations,
  });
  const top = { ...index, annotations: { 'org.opencontainers.image.ref.name': tag } };
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return index;
}
