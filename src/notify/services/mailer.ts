/**
 * nodemailer, the one thing the smtp notifier needs from it: the entry of its own bundle file
 * (dist/kured-ts-smtp.mjs), which the agent loads at its first e-mail, so that every other agent
 * never parses nodemailer (~1 MB less on every node).
 */
export { createTransport } from 'nodemailer';
