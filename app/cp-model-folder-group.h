/* cp-model-folder-group.h: where the open dataset's models are, with
 * "Use Models from Folder…" and "Import Model…" (cp-model-folder.h), as
 * one preferences group.  The Dataset page and the Preferences window
 * each show one and hand it their session (NULL: nothing to show). */
#pragma once

#include <adwaita.h>

#include "cp-session.h"

G_BEGIN_DECLS

#define CP_TYPE_MODEL_FOLDER_GROUP (cp_model_folder_group_get_type ())
G_DECLARE_FINAL_TYPE (CpModelFolderGroup, cp_model_folder_group, CP, MODEL_FOLDER_GROUP,
                      AdwPreferencesGroup)

void cp_model_folder_group_set_session (CpModelFolderGroup *self,
                                        CpSession          *session);

G_END_DECLS
