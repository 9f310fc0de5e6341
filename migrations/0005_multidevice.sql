CREATE TABLE `device_lists` (
	`account_id` text NOT NULL,
	`version` integer NOT NULL,
	`list` text NOT NULL,
	`signature` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `version`),
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `devices` ADD `removed_reason` text;--> statement-breakpoint
ALTER TABLE `devices` ADD `last_active_at` integer;