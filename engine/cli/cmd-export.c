/* cmd-export.c: `cutpaste export`: write a trained model as an ONNX file. */
#include "config.h"

#include <stdio.h>

#include "cli-common.h"
#include "commands.h"
#include "core/onnx/onnx-export.h"

int
cp_cmd_export (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *onnx_path = NULL;
  gboolean quiet = FALSE;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Model file written by 'cutpaste train'", "FILE" },
    { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx_path, "ONNX file to write", "OUT.onnx" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- export a trained model to ONNX");
  CpOnnxExportOptions opts = { PACKAGE_VERSION };
  CpOnnxExportInfo info = { 0 };
  CpError error = { 0 };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Writes a standard ONNX model (opset 13) that scores images on its own:\n"
    "input 'image' [N, 3, S, S] (RGB, resized to S x S, scaled to [0,1], normalised\n"
    "with the ImageNet mean and std), outputs 'embedding' [N, 512], 'logits' [N, C]\n"
    "and 'score' [N] (Mahalanobis distance; a part fails when score > threshold).\n"
    "Batch norm is folded into the convolutions.  The category, image size,\n"
    "threshold and preprocessing are stored in the model's metadata_props.\n"
    "Exit status: 0 ok, 1 failed (nothing written), 2 usage.");
  if (!cp_cli_parse (context, "export", &argc, &argv))
    return CP_EXIT_USAGE;
  if (model_path == NULL || onnx_path == NULL)
    {
      cp_cli_error ("export", "--model and --onnx are required (see 'cutpaste export --help')");
      return CP_EXIT_USAGE;
    }
  if (argc > 1)
    {
      cp_cli_error ("export", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (cp_onnx_export_file (model_path, onnx_path, &opts, &info, &error) != CP_OK)
    {
      cp_cli_error ("export", "%s", error.message);
      return CP_EXIT_FAILED;
    }
  if (info.global_only)
    fprintf (stderr, "cutpaste export: warning: %s also scores image regions; the ONNX graph "
             "computes the global score only (its threshold is the global part's), so small "
             "defects that only the region part finds will pass\n", model_path);
  if (!quiet)
    printf ("%s: ONNX opset %d, image %d x %d, %d classes, %d nodes, %d initializers, %.1f MB\n",
            onnx_path, CP_ONNX_OPSET, info.image_size, info.image_size, info.num_classes,
            info.nodes, info.initializers, (double) info.bytes / 1e6);
  return CP_EXIT_OK;
}
