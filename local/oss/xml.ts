/** An XML element as `[name, text]` or `[name, children]`. */
export type XmlNode = readonly [name: string, content: string | number | boolean | readonly XmlNode[]];

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Renders a document with one root element, in the compact form OSS sends. */
export function xmlDocument(root: string, children: readonly XmlNode[]): string {
  return XML_DECLARATION + renderNode([root, children]);
}

function renderNode([name, content]: XmlNode): string {
  const inner = Array.isArray(content)
    ? (content as readonly XmlNode[]).map(renderNode).join('')
    : escapeXml(String(content));
  return `<${name}>${inner}</${name}>`;
}

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_match, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return NAMED_ENTITIES[entity]!;
  });
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** One `<Part>` of a CompleteMultipartUpload request body. */
export interface CompletePart {
  partNumber: number;
  /** The ETag as the client sent it, quotes included when it sent them. */
  etag: string;
}

/**
 * Reads the part list of a CompleteMultipartUpload body, or returns undefined when the body is not such a
 * document. The parts keep the client's order, so the caller can reject an unsorted list.
 */
export function parseCompleteMultipartUpload(xml: string): CompletePart[] | undefined {
  const root = /<CompleteMultipartUpload(?:\s[^>]*)?>([\s\S]*)<\/CompleteMultipartUpload>/.exec(xml);
  if (root === null) return undefined;

  const parts: CompletePart[] = [];
  for (const [, partXml] of root[1]!.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const partNumber = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(partXml!)?.[1];
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(partXml!)?.[1];
    if (partNumber === undefined || etag === undefined) return undefined;
    parts.push({ partNumber: Number(partNumber), etag: unescapeXml(etag.trim()) });
  }
  return parts;
}

/** Reads the keys and the Quiet flag of a DeleteMultipleObjects request body, or returns undefined when malformed. */
export function parseDeleteRequest(xml: string): { quiet: boolean; keys: string[] } | undefined {
  const root = /<Delete(?:\s[^>]*)?>([\s\S]*)<\/Delete>/.exec(xml);
  if (root === null) return undefined;

  const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(root[1]!);
  const keys: string[] = [];
  for (const [, objectXml] of root[1]!.matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(objectXml!)?.[1];
    if (key === undefined) return undefined;
    keys.push(unescapeXml(key));
  }
  return { quiet, keys };
}
