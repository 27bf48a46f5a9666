/* cp-model-folder.h: the open dataset's model folder, as the user changes
 * it: models from another folder, or a model file imported into it.
 *
 * Each step has a dialog form (a file chooser) and a form that takes the
 * path the chooser would give, which the Dataset page's actions and the
 * tests use: both go the same way.  Problems are told in a dialog on
 * @parent (the window the step came from).
 */
#pragma once

#include <gtk/gtk.h>

#include "cp-session.h"

G_BEGIN_DECLS

/* The session's models come from the folder @path (after the question
 * about a moved threshold, if any). */
void cp_model_folder_use           (CpSession  *session,
                                    GtkWindow  *parent,
                                    const char *path);
/* Checks @path with the engine's model loader (on the engine thread) and
 * copies it atomically into the model folder under the name the command
 * line gives its category's model (<category>.safetensors), asking
 * before it replaces a model there; then reads the categories again.  A
 * file that is not a model, or a model of a category the dataset does
 * not have, changes nothing. */
void cp_model_folder_import        (CpSession  *session,
                                    GtkWindow  *parent,
                                    const char *path);
/* A folder chooser, then cp_model_folder_use (). */
void cp_model_folder_choose_folder (CpSession  *session,
                                    GtkWindow  *parent);
/* A chooser of .safetensors files, then cp_model_folder_import (). */
void cp_model_folder_choose_model  (CpSession  *session,
                                    GtkWindow  *parent);

G_END_DECLS
