/**
 * @module Where a media id lives in R2, and how a new id is made. One place, so the upload, the
 * download and the cleanup can never disagree about an object's key.
 */
import { randomBytes } from "../random";

export function mediaObjectKey(mediaId: string): string {
  return `media/${mediaId}`;
}

export function newMediaId(): string {
  return `m_${[...randomBytes(16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
