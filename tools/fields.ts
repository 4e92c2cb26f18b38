/**
 * Input fields shared by several tools, with the limits the reference enforces (ids ≤ 256 chars).
 *
 * @module
 */
import { z } from "zod";

/** A model key or instance id. */
export const ModelKey: z.ZodString = z.string().trim().min(1, "must not be empty").max(256);
