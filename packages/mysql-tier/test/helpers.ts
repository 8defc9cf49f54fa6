import { silentLogger } from '@sync-engine/core'
import { serviceUrls, uniqueName } from '@sync-engine/testkit'
import mysql, { type Pool } from 'mysql2/promise'
import type { Executor } from '../src/db.js'
import type { MysqlL3StoreOptions } from '../src/options.js'
import { MysqlL3Store } from '../src/store.js'

/** The server URL tests use (`MYSQL_URL`, else the machine's MariaDB). */
export const serverUrl = serviceUrls().mysqlUrl

/** `serverUrl` pointing at another database. */
export function urlFor(database: string, credentials?: { user: string; password: string }): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  if (credentials) {
    url.username = credentials.user
    url.password = credentials.password
  }
  return url.toString()
}

let admin: Pool | undefined

/** A pool on the server's default database, for DDL and looking behind the store's back. */
export function adminPool(): Pool {
  admin ??= mysql.createPool({
    uri: serverUrl,
    connectionLimit: 2,
    charset: 'UTF8MB4_BIN',
    supportBigNumbers: true,
  })
  return admin
}

export async function closeAdmin(): Promise<void> {
  const pool = admin
  admin = undefined
  await pool?.end()
}

/** Runs one statement as admin and returns its rows. */
export async function sql<T = Record<string, unknown>[]>(
  statement: string,
  params: unknown[] = [],
): Promise<T> {
  const [rows] = await adminPool().query(statement, params)
  return rows as T
}

export interface TestDatabase {
  readonly name: string
  readonly url: string
  drop(): Promise<void>
}

/** A database of its own (`uniqueName`), dropped by `drop()`. */
export async function freshDatabase(label: string): Promise<TestDatabase> {
  const name = uniqueName(label)
  await sql(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
  return { name, url: urlFor(name), drop: () => sql(`DROP DATABASE IF EXISTS \`${name}\``).then(() => {}) }
}

/** A connected store on `db` (quiet logger unless given). */
export async function openStore(
  db: TestDatabase,
  options: Omit<MysqlL3StoreOptions, 'url'> = {},
): Promise<MysqlL3Store> {
  const store = new MysqlL3Store({ url: db.url, logger: silentLogger, ...options })
  await store.connect()
  return store
}

/** A plain executor over a pool (for the node store and raw statements in tests). */
export function poolExecutor(pool: Pool): Executor {
  return {
    async execute<T>(statement: string, params: readonly unknown[]): Promise<T> {
      const [rows] = await pool.execute(statement, params as never)
      return rows as T
    },
  }
}
