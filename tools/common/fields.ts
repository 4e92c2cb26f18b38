/**
 * Input fields shared by several tools, with the limits the reference enforces (ids ≤ 256 chars).
 *
 * @module
 */
import { z } from "zod";

/** A model key or instance id. */
export const ModelKey = (): z.ZodString => z.string().trim().min(1, "must not be empty").max(256);

/** Text that must hold something besides white space (a prompt or message). */
export const NonBlank = (): z.ZodString =>
  z.string().refine((text) => text.trim().length > 0, {
    error: "must not be empty or only white space",
  });

/** An LM Studio server of LM_STUDIO_URL, by its name in model_list (`host:port`) or its URL. */
export const HostField = (): z.ZodOptional<z.ZodString> => z.string().trim().min(1).max(2048).optional();
