#ifndef TIERCACHE_CHIREDIS_SHIM_H
#define TIERCACHE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
