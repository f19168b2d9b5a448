#ifndef TIERCACHE_CSQLITE_SHIM_H
#define TIERCACHE_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro that does not import into Swift.
static inline sqlite3_destructor_type tiercache_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_db_config is variadic, which Swift cannot call. This is its form for the on/off options
// (SQLITE_DBCONFIG_DEFENSIVE, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, …): sets `value` (1 on, 0 off) and
// stores the setting now in force in `*now`.
static inline int tiercache_sqlite_db_config_flag(sqlite3 *db, int option, int value, int *now) {
    return sqlite3_db_config(db, option, value, now);
}
#endif
