/* augment.h: everything of engine/core/augment in one include. */
#pragma once

#include "color-jitter.h"
#include "cutpaste.h"
#include "normalize.h"
#include "variant.h"
