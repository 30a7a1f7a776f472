/**
 * The image's SBOM, SPDX 2.3 JSON, read from the image itself (the OCI layout `make image` built):
 * per architecture, the Debian packages of its root filesystem (the dpkg status files in its first
 * layer), Node (its second layer), and the npm packages bundled into the /app files of its third
 * layer (esbuild's metafile of each file, checked against the layer by sha256); with versions,
 * package URLs and licences. kured-ts itself is the root package.
 *
 * Ours rather than syft's: syft is a large Go build for CI (docs/release.md has the figures), and
 * the image holds few things, all of which its build already knows. Reproducible: the document's
 * time is the commit's, its namespace the image index's digest.
 *
 *   node scripts/release/sbom.ts [--image dist/image] [--out dist/release/sbom.spdx.json]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ImageReport } from '../image/build.ts';
import { blobPath, type Descriptor, readBlob } from '../image/oci.ts';
import { APP_FILES, ARCHES, REPO_ROOT, SOURCE_URL, SUITE } from '../image/spec.ts';

/**
 * Licences of the Debian packages whose files the image keeps (scripts/image/spec.ts KEEP), as SPDX
 * expressions, read from each package's /usr/share/doc/<package>/copyright for the files kept (only
 * three of the seven are in the machine-readable copyright format, so this is a table, not a parser).
 * The SBOM refuses to be written for a package missing here.
 */
export const DEBIAN_LICENSES: Record<string, string> = {
  libc6: 'LGPL-2.1-or-later', // "the GNU C Library is free software ... LGPL ... version 2.1 ... or later"
  'libgcc-s1': 'GPL-3.0-or-later WITH GCC-exception-3.1',
  'libstdc++6': 'GPL-3.0-or-later WITH GCC-exception-3.1',
  libselinux1: 'LicenseRef-public-domain', // "This library (libselinux) is public domain software"
  // BSD-3-Clause "with BINARY LIBRARY-LIKE PACKAGES exception", which only waives the notice for
  // binaries; its SPDX id (PCRE2-exception) is newer than the exception lists validators ship.
  'libpcre2-8-0': 'BSD-3-Clause',
  tzdata: 'LicenseRef-public-domain',
  'util-linux': 'GPL-2.0-or-later', // nsenter alone: "version 2 of the License, or (at your option) any later"
};

const DEBIAN_RELEASE: Record<string, string> = { bookworm: '12', trixie: '13' };

export interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  supplier?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums?: Array<{ algorithm: 'SHA256'; checksumValue: string }>;
  licenseConcluded: string;
  licenseDeclared: string;
  copyrightText: string;
  primaryPackagePurpose?: string;
  externalRefs?: Array<{ referenceCategory: string; referenceType: string; referenceLocator: string }>;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  relationships: Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
  hasExtractedLicensingInfos: Array<{ licenseId: string; name: string; extractedText: string }>;
}

const id = (s: string) => `SPDXRef-${s.replace(/[^A-Za-z0-9.-]/g, '-')}`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The SBOM of the image in `imageDir` (image.json and its oci/ layout). */
export function imageSbom(imageDir: string, version: string): SpdxDocument {
  if (!existsSync(join(imageDir, 'image.json')))
    throw new Error(`sbom: ${imageDir} holds no image (image.json): run make image (make release does)`);
  const report = JSON.parse(readFileSync(join(imageDir, 'image.json'), 'utf8')) as ImageReport;
  const layout = join(imageDir, 'oci');
  const index = readBlob<{ manifests: Descriptor[] }>(layout, report.digest);
  const created = new Date(report.epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const root = id('kured-ts');
  const packages: SpdxPackage[] = [
    {
      SPDXID: root,
      name: 'kured-ts',
      versionInfo: version,
      supplier: 'Organization: kured-ts',
      downloadLocation: `git+${SOURCE_URL}@${report.revision}`,
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: report.digest.replace(/^sha256:/, '') }],
      licenseConcluded: 'Apache-2.0',
      licenseDeclared: 'Apache-2.0',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'CONTAINER',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: `pkg:oci/kured-ts@${encodeURIComponent(report.digest)}?tag=${version}`,
        },
      ],
    },
  ];
  const relationships: SpdxDocument['relationships'] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: root },
  ];
  const contains = (parent: string, p: SpdxPackage) => {
    if (!packages.some((q) => q.SPDXID === p.SPDXID)) packages.push(p);
    relationships.push({ spdxElementId: parent, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID });
  };

  const work = mkdtempSync(join(tmpdir(), 'kured-ts-sbom-'));
  try {
    // The npm packages are the same in every architecture's app layer (one bundle): read once.
    const npm = bundledNpmPackages();
    for (const desc of index.manifests) {
      const arch = desc.platform!.architecture;
      const manifest = readBlob<{ layers: Descriptor[] }>(layout, desc.digest);
      const [rootfs, node, app] = manifest.layers;
      if (!rootfs || !node || !app || manifest.layers.length !== 3)
        throw new Error(
          `sbom: the ${arch} image has ${manifest.layers.length} layers, not rootfs, Node and app`,
        );
      const image = id(`image-${arch}`);
      contains(root, {
        SPDXID: image,
        name: `kured-ts linux/${arch}`,
        versionInfo: version,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        checksums: [{ algorithm: 'SHA256', checksumValue: desc.digest.replace(/^sha256:/, '') }],
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'Apache-2.0',
        copyrightText: 'NOASSERTION',
        primaryPackagePurpose: 'CONTAINER',
      });

      const dir = join(work, arch);
      mkdirSync(dir);
      // Layers are gzip tars whose entries start with "./" (scripts/image/oci.ts layerTar).
      const untar = (layer: Descriptor, ...paths: string[]) =>
        execFileSync('tar', ['-xzf', blobPath(layout, layer.digest), '-C', dir, '--wildcards', ...paths]);
      untar(rootfs, './var/lib/dpkg/status.d/*');
      for (const file of readdirSync(join(dir, 'var/lib/dpkg/status.d')).sort()) {
        const fields = dpkgFields(readFileSync(join(dir, 'var/lib/dpkg/status.d', file), 'utf8'));
        const name = fields.Package!;
        const license = DEBIAN_LICENSES[name];
        if (!license)
          throw new Error(`sbom: no licence known for the Debian package ${name}; add it to DEBIAN_LICENSES`);
        const source = fields.Source ? `&upstream=${encodeURIComponent(fields.Source)}` : '';
        contains(image, {
          SPDXID: id(`deb-${name}-${fields.Architecture}`),
          name,
          versionInfo: fields.Version!,
          supplier: 'Organization: Debian',
          downloadLocation: 'NOASSERTION',
          filesAnalyzed: false,
          licenseConcluded: 'NOASSERTION',
          licenseDeclared: license,
          copyrightText: 'NOASSERTION',
          primaryPackagePurpose: 'LIBRARY',
          externalRefs: [
            {
              referenceCategory: 'PACKAGE-MANAGER',
              referenceType: 'purl',
              referenceLocator: `pkg:deb/debian/${encodeURIComponent(name)}@${encodeURIComponent(fields.Version!)}?arch=${fields.Architecture}&distro=debian-${DEBIAN_RELEASE[SUITE] ?? SUITE}${source}`,
            },
          ],
        });
      }

      untar(node, './usr/local/bin/node');
      const npmName = ARCHES[arch as keyof typeof ARCHES];
      contains(image, {
        SPDXID: id(`node-${arch}`),
        name: 'node',
        versionInfo: report.node,
        supplier: 'Organization: OpenJS Foundation',
        downloadLocation: `https://registry.npmjs.org/${npmName}/-/${npmName}-${report.node}.tgz`,
        filesAnalyzed: false,
        checksums: [
          { algorithm: 'SHA256', checksumValue: sha256(readFileSync(join(dir, 'usr/local/bin/node'))) },
        ],
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'MIT',
        copyrightText: 'NOASSERTION',
        primaryPackagePurpose: 'APPLICATION',
        externalRefs: [
          {
            referenceCategory: 'PACKAGE-MANAGER',
            referenceType: 'purl',
            // The image's Node comes from the npm registry's build of it (scripts/image/build.ts nodeLayer).
            referenceLocator: `pkg:npm/${npmName}@${report.node}`,
          },
        ],
      });

      untar(app, ...APP_FILES.map((f) => `./app/${f}`));
      for (const file of APP_FILES) {
        const inImage = sha256(readFileSync(join(dir, 'app', file)));
        const built = sha256(readFileSync(join(REPO_ROOT, 'dist', file)));
        if (inImage !== built)
          throw new Error(
            `sbom: the image's /app/${file} is not dist/${file}: run make image (make release does)`,
          );
      }
      for (const p of npm) contains(image, p);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `kured-ts-${version}`,
    documentNamespace: `${SOURCE_URL}/spdx/kured-ts-${version}-${report.digest.replace(/^sha256:/, '')}`,
    creationInfo: { created, creators: [`Tool: kured-ts-sbom-${version}`, 'Organization: kured-ts'] },
    packages,
    relationships,
    hasExtractedLicensingInfos: [
      {
        licenseId: 'LicenseRef-public-domain',
        name: 'public domain',
        extractedText: 'The authors place this work in the public domain (see the package copyright file).',
      },
    ],
  };
}

/** The npm packages whose files esbuild put into the image's /app files (dist/<file>.meta.json). */
export function bundledNpmPackages(): SpdxPackage[] {
  const dirs = new Set<string>();
  for (const file of APP_FILES) {
    const meta = JSON.parse(
      readFileSync(join(REPO_ROOT, 'dist', file.replace(/\.mjs$/, '.meta.json')), 'utf8'),
    );
    for (const input of Object.keys(meta.inputs as Record<string, unknown>)) {
      const at = input.lastIndexOf('node_modules/');
      if (at < 0) continue;
      const [scope, name] = input.slice(at + 'node_modules/'.length).split('/');
      dirs.add(`${input.slice(0, at)}node_modules/${scope!.startsWith('@') ? `${scope}/${name}` : scope}`);
    }
  }
  return [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      license?: string;
    };
    return {
      SPDXID: id(`npm-${pkg.name}-${pkg.version}`),
      name: pkg.name,
      versionInfo: pkg.version,
      downloadLocation: `https://registry.npmjs.org/${pkg.name}/-/${pkg.name.split('/').pop()}-${pkg.version}.tgz`,
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: pkg.license ?? 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: `pkg:npm/${pkg.name.replace('@', '%40')}@${pkg.version}`,
        },
      ],
    };
  });
}

/** Fields of one dpkg status paragraph (no continuation lines in ours). */
function dpkgFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The command line: a failure is one line naming its cause, never a stack trace. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      image: { type: 'string', default: join(REPO_ROOT, 'dist/image') },
      out: { type: 'string', default: join(REPO_ROOT, 'dist/release/sbom.spdx.json') },
    },
  });
  const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version;
  const doc = imageSbom(resolve(values.image), version);
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stderr.write(`sbom: ${values.out}: ${doc.packages.length} packages (SPDX 2.3)\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
